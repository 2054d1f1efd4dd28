"""Schemathesis against /api/schema/: every operation of the API, generated requests, no 5xx
(here, beside the models it needs)."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from accounts.throttles import TokenThrottle
from billing import services as billing
from billing.throttles import VoucherRedeemThrottle
from predictions import services
from tests.factories import UserFactory, issue_token

# Generating the schema touches no database: it can be read when the tests are collected.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _catalog_and_one_transaction(db, monkeypatch, car_price_folder):
    # The schema's request examples name the catalog's first model, car-price-basic.
    services.register_manifest(folder=car_price_folder)
    # Generated requests come faster than any client's: the throttles would answer most.
    for throttle in (TokenThrottle, UserRateThrottle, AnonRateThrottle, VoucherRedeemThrottle):
        monkeypatch.setattr(throttle, "THROTTLE_RATES", UNTHROTTLED)
    # As Django's test client does: the test's transaction must outlive each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


UNTHROTTLED = dict.fromkeys(
    ("anon", "user", "api_read", "api_create", "voucher_redeem"), "100000/min"
)


@pytest.fixture
def token(db):
    user = UserFactory()
    billing.grant(user=user, amount=100_000, memo="fuzz", actor=None)
    return issue_token(user)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_makes_a_server_error(case, token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[schemathesis.checks.not_a_server_error],
    )
