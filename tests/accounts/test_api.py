from datetime import timedelta

import pytest
from django.urls import reverse
from rest_framework.throttling import UserRateThrottle

from accounts import services
from accounts.models import ApiToken
from tests.factories import UserFactory, issue_token

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


def test_me_answers_the_tokens_user_with_bearer(api_client):
    user = UserFactory(email="ivan@example.com", name="Ivan")
    key = issue_token(user)
    response = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    body = response.json()
    assert body.pop("date_joined").startswith(str(user.date_joined.date()))
    assert body == {"id": user.id, "email": "ivan@example.com", "name": "Ivan"}


def test_me_accepts_the_token_keyword_too(api_client):
    key = issue_token(UserFactory())
    assert api_client.get(ME, HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_token_use_is_recorded_at_most_once_a_minute(api_client):
    user = UserFactory()
    key = issue_token(user)
    api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {key}")
    first_use = ApiToken.objects.get(user=user).last_used_at
    assert first_use is not None

    api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert ApiToken.objects.get(user=user).last_used_at == first_use

    an_hour_ago = first_use - timedelta(hours=1)
    ApiToken.objects.filter(user=user).update(last_used_at=an_hour_ago)
    api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert ApiToken.objects.get(user=user).last_used_at > an_hour_ago


def test_without_credentials_the_api_answers_401_json(api_client):
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer mfdp_unknown-token", "invalid_token"),
        ("Bearer not-even-our-format", "invalid_token"),
        ("Token \u00e9t\u00e9", "invalid_token"),
        ("Bearer", "malformed_authorization"),
        ("Bearer two words", "malformed_authorization"),
    ],
)
def test_bad_tokens_get_401_with_a_code(api_client, header, code):
    response = api_client.get(ME, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == code
    assert body["detail"]


def test_revoked_token_gets_401(api_client):
    user = UserFactory()
    issued = services.api_token_create(user=user, name="ci")
    assert api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {issued.key}").status_code == 200
    services.api_token_revoke(token=issued.token)
    response = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {issued.key}")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_token_of_a_deactivated_user_gets_401(api_client):
    user = UserFactory()
    key = issue_token(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_session_login_does_not_open_the_api(api_client):
    # Pages use sessions, the API uses tokens only: no CSRF surface on the API.
    api_client.force_login(UserFactory())
    assert api_client.get(ME).status_code == 401


def test_unknown_api_path_is_json_404(api_client):
    response = api_client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_wrong_method_is_json_405(api_client):
    key = issue_token(UserFactory())
    response = api_client.post(ME, {}, HTTP_AUTHORIZATION=f"Bearer {key}", format="json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_reads_are_throttled_per_user_with_retry_after(api_client, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"anon": "100/min", "user": "3/min"})
    key = issue_token(UserFactory())
    codes = [api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {key}").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_openapi_schema_describes_me_and_bearer_auth(client):
    response = client.get(reverse("api-schema"), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/me/" in schema["paths"]
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_swagger_ui_is_served_with_local_assets(client):
    response = client.get(reverse("api-docs"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html


def test_api_root_lists_where_to_start(api_client):
    response = api_client.get("/api/v1/")
    assert response.status_code == 200
    assert response.json() == {
        "me": "http://testserver/api/v1/me/",
        "schema": "http://testserver/api/schema/",
        "docs": "http://testserver/api/docs/",
    }


def test_post_without_the_trailing_slash_is_a_json_404_that_says_so(api_client):
    key = issue_token(UserFactory())
    response = api_client.post(
        "/api/v1/me", {"a": 1}, format="json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "/api/v1/me/" in response.json()["detail"]
