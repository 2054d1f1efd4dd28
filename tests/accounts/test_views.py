import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts import services
from accounts.models import ApiToken, User
from accounts.throttles import PasswordResetThrottle, SignupThrottle
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-strong-pass-97"


def _signup(client, **overrides):
    data = {
        "email": "Ada@Example.com",
        "name": "Ada",
        "password1": "correct horse battery staple",
        "password2": "correct horse battery staple",
    }
    data.update(overrides)
    return client.post(reverse("accounts:signup"), data)


def test_home_introduces_the_service_to_visitors(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Machine-learning predictions, paid per row" in response.content
    assert reverse("accounts:signup").encode() in response.content


def test_home_sends_logged_in_customers_to_their_account(client):
    client.force_login(UserFactory())
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:account")


def test_signup_creates_the_user_and_logs_in(client):
    response = _signup(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:account")
    user = User.objects.get()
    assert user.email == "ada@example.com"
    assert user.check_password("correct horse battery staple")
    assert not user.is_staff
    page = client.get(reverse("accounts:account"))
    assert b"ada@example.com" in page.content


def test_signup_refuses_a_taken_email_in_any_case(client):
    UserFactory(email="ada@example.com")
    response = _signup(client, email="ADA@example.com")
    assert response.status_code == 200
    assert b"already exists" in response.content
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("password1", "password2", "message"),
    [
        ("short1", "short1", b"too short"),
        ("12345678901", "12345678901", b"entirely numeric"),
        ("password123", "password123", b"too common"),
        ("correct horse battery", "different horse battery", b"didn\xe2\x80\x99t match"),
    ],
)
def test_signup_applies_the_password_rules(client, password1, password2, message):
    response = _signup(client, password1=password1, password2=password2)
    assert response.status_code == 200
    assert message in response.content
    assert not User.objects.exists()


def test_signup_page_refuses_other_methods(client):
    assert client.put(reverse("accounts:signup")).status_code == 405


def test_login_with_email_in_any_case(client):
    UserFactory(email="bob@example.com")
    response = client.post(
        reverse("accounts:login"), {"username": "BOB@example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:account")
    assert client.get(reverse("accounts:account")).status_code == 200


def test_login_with_a_wrong_password_says_so(client):
    UserFactory(email="bob@example.com")
    response = client.post(
        reverse("accounts:login"), {"username": "bob@example.com", "password": "nope"}
    )
    assert response.status_code == 200
    assert b"correct" in response.content  # Django's "Please enter a correct e-mail and password"
    assert "_auth_user_id" not in client.session


def test_login_locks_out_after_repeated_failures(client, settings):
    UserFactory(email="bob@example.com")
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("accounts:login"), {"username": "bob@example.com", "password": "x"})
    response = client.post(
        reverse("accounts:login"), {"username": "bob@example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 429
    assert b"Too many failed log-in attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_lockout_cannot_be_dodged_by_changing_the_emails_case(client, settings):
    UserFactory(email="bob@example.com")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        spelling = ["bob@example.com", "BOB@example.com", " Bob@Example.com "][attempt % 3]
        client.post(reverse("accounts:login"), {"username": spelling, "password": "x"})
    response = client.post(
        reverse("accounts:login"), {"username": "BOB@EXAMPLE.COM", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_signup_is_throttled_per_client_address(client, monkeypatch):
    monkeypatch.setattr(SignupThrottle, "THROTTLE_RATES", {"signup": "2/hour"})
    for n in range(2):
        _signup(client, email=f"n{n}@example.com")
        client.post(reverse("accounts:logout"))
    response = _signup(client, email="third@example.com")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert not User.objects.filter(email="third@example.com").exists()


def test_password_reset_mails_are_throttled_per_client_address(client, monkeypatch):
    monkeypatch.setattr(PasswordResetThrottle, "THROTTLE_RATES", {"password_reset": "1/hour"})
    UserFactory(email="carol@example.com")
    client.post(reverse("accounts:password_reset"), {"email": "carol@example.com"})
    response = client.post(reverse("accounts:password_reset"), {"email": "carol@example.com"})
    assert response.status_code == 429
    assert len(mail.outbox) == 1


def test_registering_a_taken_email_is_a_domain_error_not_a_crash():
    UserFactory(email="dora@example.com")
    with pytest.raises(services.EmailTaken):
        services.user_register(email="DORA@example.com", password="whatever-long-1")


def test_logout_ends_the_session(client):
    client.force_login(UserFactory())
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("accounts:account")).status_code == 302


def test_account_page_needs_login(client):
    response = client.get(reverse("accounts:account"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_password_change(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_password_reset_by_email_link(client):
    user = UserFactory(email="carol@example.com")
    response = client.post(reverse("accounts:password_reset"), {"email": "Carol@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["carol@example.com"]
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", mail.outbox[0].body)
    assert link, mail.outbox[0].body

    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    set_url = form_page.redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_complete")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)

    # The link works once.
    again = client.get(link.group(1), follow=True)
    assert b"no longer works" in again.content


def test_password_reset_of_an_unknown_email_reveals_nothing(client):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert mail.outbox == []


def _create_token(client, name="laptop", **headers):
    return client.post(reverse("accounts:tokens"), {"name": name}, **headers)


def _shown_key(response) -> str:
    match = re.search(rb'data-testid="new-token">([^<]+)<', response.content)
    assert match, "the new token is not on the page"
    return match.group(1).decode()


def test_token_is_shown_once_and_stored_hashed(client):
    user = UserFactory()
    client.force_login(user)
    response = _create_token(client)
    assert response.status_code == 200
    key = _shown_key(response)
    token = ApiToken.objects.get(user=user)
    assert token.name == "laptop"
    assert key.startswith(token.prefix)
    assert key not in token.key_hash
    listing = client.get(reverse("accounts:tokens"))
    assert key.encode() not in listing.content
    assert token.prefix.encode() in listing.content


def test_token_created_over_htmx_returns_the_panel_only(client):
    client.force_login(UserFactory())
    response = _create_token(client, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'id="token-panel"' in response.content
    assert b"<html" not in response.content
    _shown_key(response)


def test_token_needs_a_name(client):
    user = UserFactory()
    client.force_login(user)
    response = _create_token(client, name="   ")
    assert response.status_code == 400
    assert not ApiToken.objects.filter(user=user).exists()


def test_token_limit_is_a_clear_error(client, settings):
    settings.API_TOKENS_PER_USER = 2
    user = UserFactory()
    client.force_login(user)
    _create_token(client, name="one")
    _create_token(client, name="two")
    response = _create_token(client, name="three")
    assert response.status_code == 400
    assert b"revoke one first" in response.content
    assert ApiToken.objects.filter(user=user).count() == 2


def test_revoking_a_token_from_the_page(client):
    user = UserFactory()
    client.force_login(user)
    key = _shown_key(_create_token(client))
    token = ApiToken.objects.get(user=user)
    response = client.post(reverse("accounts:token_revoke", args=[token.id]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_revoking_another_users_token_is_not_found(client):
    other_token = ApiToken.objects.create(
        user=UserFactory(), name="theirs", prefix="mfdp_x", key_hash="0" * 64
    )
    client.force_login(UserFactory())
    response = client.post(reverse("accounts:token_revoke", args=[other_token.id]))
    assert response.status_code == 404
    other_token.refresh_from_db()
    assert other_token.revoked_at is None


def test_revoke_needs_post(client):
    user = UserFactory()
    client.force_login(user)
    _create_token(client)
    token = ApiToken.objects.get(user=user)
    assert client.get(reverse("accounts:token_revoke", args=[token.id])).status_code == 405


def test_tokens_page_needs_login(client):
    assert client.get(reverse("accounts:tokens")).status_code == 302


def test_tokens_page_is_never_cached_and_varies_on_htmx(client):
    client.force_login(UserFactory())
    response = client.get(reverse("accounts:tokens"))
    assert "no-store" in response["Cache-Control"]
    assert "HX-Request" in response["Vary"]


def test_tokens_page_refuses_other_methods(client):
    client.force_login(UserFactory())
    assert client.put(reverse("accounts:tokens")).status_code == 405


def test_webhook_secret_is_shown_and_rotated(client):
    user = UserFactory()
    client.force_login(user)
    old_secret = user.webhook_secret
    assert old_secret.encode() in client.get(reverse("accounts:tokens")).content
    response = client.post(reverse("accounts:webhook_secret_rotate"))
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.webhook_secret != old_secret
    assert user.webhook_secret.startswith("whsec_")


def test_webhook_secret_rotation_over_htmx_refreshes_the_page(client):
    user = UserFactory()
    client.force_login(user)
    old_secret = user.webhook_secret
    response = client.post(reverse("accounts:webhook_secret_rotate"), HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"
    user.refresh_from_db()
    assert user.webhook_secret != old_secret


def test_webhook_secret_rotation_needs_post(client):
    client.force_login(UserFactory())
    assert client.get(reverse("accounts:webhook_secret_rotate")).status_code == 405


def test_webhook_secrets_differ_between_users():
    assert UserFactory().webhook_secret != UserFactory().webhook_secret
