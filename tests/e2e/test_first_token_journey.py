"""A newcomer's first journey: sign up, create a token, call the API, revoke, be refused."""

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_sign_up_create_token_call_api_revoke(client):
    signup = client.post(
        reverse("accounts:signup"),
        {
            "email": "newcomer@example.com",
            "name": "Newcomer",
            "password1": "a-fine-long-password-7",
            "password2": "a-fine-long-password-7",
        },
        follow=True,
    )
    assert signup.status_code == 200
    assert b"newcomer@example.com" in signup.content

    created = client.post(reverse("accounts:tokens"), {"name": "my script"}, HTTP_HX_REQUEST="true")
    key = re.search(rb'data-testid="new-token">([^<]+)<', created.content).group(1).decode()
    token_id = re.search(rb"/accounts/tokens/(\d+)/revoke/", created.content).group(1).decode()

    api = APIClient()
    me = api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert me.status_code == 200
    assert me.json()["email"] == "newcomer@example.com"

    revoked = client.post(reverse("accounts:token_revoke", args=[token_id]), HTTP_HX_REQUEST="true")
    assert b"revoked" in revoked.content

    after = api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert after.status_code == 401
    assert after.json()["code"] == "invalid_token"
