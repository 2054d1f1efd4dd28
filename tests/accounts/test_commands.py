from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_create_api_token_prints_a_working_token():
    UserFactory(email="ops@example.com")
    out = StringIO()
    call_command("create_api_token", "OPS@example.com", "--name", "cron", stdout=out)
    key = out.getvalue().strip()
    response = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert response.json()["email"] == "ops@example.com"


def test_create_api_token_for_an_unknown_user_fails_clearly():
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "ghost@example.com", "--name", "cron")


def test_load_demo_data_is_idempotent_and_prints_passwords_once():
    first = StringIO()
    call_command("load_demo_data", stdout=first)
    second = StringIO()
    call_command("load_demo_data", stdout=second)
    assert User.objects.filter(email="staff@example.com", is_staff=True).exists()
    assert User.objects.filter(email="customer@example.com", is_staff=False).exists()
    assert User.objects.count() == 2
    assert "customer@example.com" in first.getvalue()
    assert "customer@example.com" not in second.getvalue()


def test_demo_passwords_printed_are_the_real_ones(client):
    out = StringIO()
    call_command("load_demo_data", stdout=out)
    line = next(li for li in out.getvalue().splitlines() if "customer@example.com" in li)
    password = line.split()[1]
    response = client.post(
        "/accounts/login/", {"username": "customer@example.com", "password": password}
    )
    assert response.status_code == 302


@pytest.mark.django_db(transaction=True)
def test_prepare_demo_readies_everything_twice_over(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path / "static"
    first = StringIO()
    call_command("prepare_demo", stdout=first)
    call_command("prepare_demo", stdout=StringIO())
    assert "customer@example.com" in first.getvalue()
    assert "car-price-premium v1" in first.getvalue()
    assert (tmp_path / "static" / "vendor" / "pico" / "pico.min.css").exists()
    assert User.objects.count() == 2
