import pytest
from django.urls import reverse

from accounts import services
from accounts.models import ApiToken, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser(email="boss@example.com", password="x" * 12))
    return client


def test_customers_never_reach_the_admin(client):
    client.force_login(UserFactory())
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_staff_search_users_by_email(staff_client):
    UserFactory(email="findme@example.com")
    UserFactory(email="other@example.com")
    response = staff_client.get(reverse("admin:accounts_user_changelist"), {"q": "findme"})
    assert response.status_code == 200
    assert b"findme@example.com" in response.content
    assert b"other@example.com" not in response.content


def test_staff_add_a_user_with_email_login(staff_client):
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "new@example.com",
            "usable_password": "true",
            "password1": "a-long-new-password-1",
            "password2": "a-long-new-password-1",
        },
    )
    assert response.status_code == 302
    assert User.objects.get(email="new@example.com").check_password("a-long-new-password-1")


def test_staff_revoke_tokens_with_the_action(staff_client):
    issued = services.api_token_create(user=UserFactory(), name="leaked")
    response = staff_client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [issued.token.id]},
    )
    assert response.status_code == 302
    assert ApiToken.objects.get(id=issued.token.id).revoked_at is not None


def test_staff_cannot_add_tokens_in_the_admin(staff_client):
    assert staff_client.get(reverse("admin:accounts_apitoken_add")).status_code == 403


def test_user_page_lists_their_tokens(staff_client):
    user = UserFactory()
    services.api_token_create(user=user, name="visible-token-name")
    response = staff_client.get(reverse("admin:accounts_user_change", args=[user.id]))
    assert response.status_code == 200
    assert b"visible-token-name" in response.content


def test_staff_cannot_delete_tokens(staff_client):
    issued = services.api_token_create(user=UserFactory(), name="keep-me")
    response = staff_client.get(reverse("admin:accounts_apitoken_delete", args=[issued.token.id]))
    assert response.status_code == 403
    changelist = staff_client.get(reverse("admin:accounts_apitoken_changelist"))
    assert b"delete_selected" not in changelist.content
