"""The billing API: balance, ledger, voucher redemption, with token auth (DRF's APIClient)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing import services
from billing.models import CreditAccount, LedgerEntry, Voucher
from billing.throttles import VoucherRedeemThrottle
from tests.factories import UserFactory, issue_token

pytestmark = pytest.mark.django_db

BALANCE = "/api/v1/balance/"
LEDGER = "/api/v1/ledger/"
REDEEM = "/api/v1/vouchers/redeem/"


@pytest.fixture
def customer():
    return UserFactory()


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, name="Olga Staff")


@pytest.fixture
def api(api_client, customer):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(customer)}")
    return api_client


def _voucher(credits: int = 30, *, expires_at=None) -> Voucher:
    batch = services.voucher_batch_create(
        count=1, credits=credits, expires_at=expires_at, note="api", actor=None
    )
    return batch.vouchers.get()


def _balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


# ----------------------------------------------------------------------------- auth


@pytest.mark.parametrize(("method", "url"), [("get", BALANCE), ("get", LEDGER), ("post", REDEEM)])
def test_without_a_token_every_billing_endpoint_is_401(api_client, method, url):
    response = getattr(api_client, method)(url)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_browser_session_does_not_open_the_billing_api(api_client, customer):
    api_client.force_login(customer)
    assert api_client.get(BALANCE).status_code == 401


@pytest.mark.parametrize(("method", "url"), [("post", BALANCE), ("post", LEDGER), ("get", REDEEM)])
def test_wrong_methods_are_json_405(api, method, url):
    response = getattr(api, method)(url)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


# ----------------------------------------------------------------------------- balance


def test_balance_answers_the_tokens_users_credits(api, customer, staff):
    services.grant(user=customer, amount=120, memo="Welcome", actor=staff)
    services.grant(user=UserFactory(), amount=5, memo="other", actor=staff)
    response = api.get(BALANCE)
    assert response.status_code == 200
    assert response.json() == {"balance": 120}


# ----------------------------------------------------------------------------- ledger


def test_ledger_lists_only_own_entries_newest_first(api, customer, staff):
    services.grant(user=customer, amount=50, memo="Welcome", actor=staff)
    services.charge(user=customer, amount=8, reference="job:a1", memo="Prediction")
    services.grant(user=UserFactory(), amount=99, memo="someone else", actor=staff)

    response = api.get(LEDGER)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    charge, grant = body["results"]
    assert {key: charge[key] for key in ("kind", "amount", "balance_after", "memo")} == {
        "kind": "charge",
        "amount": -8,
        "balance_after": 42,
        "memo": "Prediction",
    }
    assert charge["by_staff"] is None
    assert (grant["kind"], grant["amount"], grant["balance_after"]) == ("grant", 50, 50)
    assert grant["by_staff"] == "Olga Staff"
    assert grant["kind_label"] == "grant"


def test_ledger_is_paginated(api, customer, staff):
    for number in range(5):
        services.grant(user=customer, amount=1 + number, memo=f"m{number}", actor=staff)

    first = api.get(LEDGER, {"page_size": 2}).json()
    last = api.get(LEDGER, {"page_size": 2, "page": 3}).json()

    assert first["count"] == 5
    assert [entry["memo"] for entry in first["results"]] == ["m4", "m3"]
    assert first["next"] is not None
    assert [entry["memo"] for entry in last["results"]] == ["m0"]
    assert last["next"] is None


def test_ledger_filters_by_kind(api, customer, staff):
    services.grant(user=customer, amount=10, memo="g", actor=staff)
    services.charge(user=customer, amount=3, reference="job:a2")
    body = api.get(LEDGER, {"kind": "charge"}).json()
    assert [entry["kind"] for entry in body["results"]] == ["charge"]


def test_ledger_filters_by_dates(api, customer, staff):
    services.grant(user=customer, amount=10, memo="today", actor=staff)
    today = timezone.localdate()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)

    def count(**params):
        response = api.get(LEDGER, params)
        assert response.status_code == 200
        return response.json()["count"]

    assert count(date_from=today.isoformat(), date_to=today.isoformat()) == 1
    assert count(date_from=yesterday.isoformat()) == 1
    assert count(date_from=tomorrow.isoformat()) == 0
    assert count(date_to=yesterday.isoformat()) == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "bogus"}, "kind"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_to": "2025-02-31"}, "date_to"),
        ({"date_from": "2025-03-10", "date_to": "2025-03-01"}, "date_to"),
    ],
    ids=["bogus-kind", "bad-date", "impossible-date", "inverted"],
)
def test_bad_ledger_filters_are_400_invalid_input(api, params, field):
    response = api.get(LEDGER, params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["detail"]
    assert field in body["errors"]


# ----------------------------------------------------------------------------- vouchers


def test_redeem_answers_201_with_credits_and_balance(api, customer, staff):
    services.grant(user=customer, amount=10, memo="Welcome", actor=staff)
    voucher = _voucher(credits=30)

    response = api.post(REDEEM, {"code": voucher.display_code.lower()}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["credits"] == 30
    assert body["balance"] == 40
    assert body["entry"]["kind"] == "voucher"
    assert _balance(customer) == 40
    assert api.get(LEDGER).json()["results"][0]["memo"] == voucher.display_code


def test_a_redeemed_voucher_belongs_to_the_first_customer(api, customer):
    voucher = _voucher(credits=30)
    api.post(REDEEM, {"code": voucher.code}, format="json")
    voucher.refresh_from_db()
    assert voucher.redeemed_by == customer


def _used_code():
    voucher = _voucher()
    services.redeem_voucher(user=UserFactory(), code=voucher.code)
    return voucher.code


@pytest.mark.parametrize(
    ("make_code", "code"),
    [
        (lambda: "ABCD-EFGH-JKLM-NPQR", "voucher_unknown"),
        (lambda: "short", "voucher_unknown"),
        (_used_code, "voucher_redeemed"),
        (
            lambda: _voucher(expires_at=timezone.now() - timedelta(seconds=1)).code,
            "voucher_expired",
        ),
    ],
    ids=["unknown", "malformed", "used", "expired"],
)
def test_bad_codes_are_400_with_a_stable_code(api, customer, make_code, code):
    code_sent = make_code()
    entries_before = LedgerEntry.objects.count()

    response = api.post(REDEEM, {"code": code_sent}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert body["detail"]
    assert _balance(customer) == 0
    assert LedgerEntry.objects.count() == entries_before


@pytest.mark.parametrize("data", [{}, {"code": ""}, {"code": "x" * 65}, {"voucher": "ABCD"}])
def test_missing_or_bad_code_is_invalid_input(api, customer, data):
    response = api.post(REDEEM, data, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_input"
    assert "code" in body["errors"]
    assert _balance(customer) == 0


def test_redemption_attempts_are_throttled_with_retry_after(api, customer, monkeypatch):
    monkeypatch.setattr(VoucherRedeemThrottle, "THROTTLE_RATES", {"voucher_redeem": "2/hour"})
    voucher = _voucher(credits=30)
    codes = [
        api.post(REDEEM, {"code": "WRONG-CODE-GUESS-XXXX"}, format="json").status_code
        for _ in range(2)
    ]
    assert codes == [400, 400]

    response = api.post(REDEEM, {"code": voucher.code}, format="json")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert _balance(customer) == 0
    voucher.refresh_from_db()
    assert voucher.redeemed_at is None


def test_the_redemption_limit_leaves_other_reads_alone(api, monkeypatch):
    monkeypatch.setattr(VoucherRedeemThrottle, "THROTTLE_RATES", {"voucher_redeem": "1/hour"})
    api.post(REDEEM, {"code": "WRONG-CODE-GUESS-XXXX"}, format="json")
    assert api.post(REDEEM, {"code": "WRONG-CODE-GUESS-XXXX"}, format="json").status_code == 429
    assert api.get(BALANCE).status_code == 200


def test_schema_describes_the_billing_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {BALANCE, LEDGER, REDEEM} <= set(paths)
    parameters = {p["name"] for p in paths[LEDGER]["get"]["parameters"]}
    assert {"kind", "date_from", "date_to", "page"} <= parameters


def _response_properties(schema: dict, path: str, method: str, status: str) -> set[str]:
    content = schema["paths"][path][method]["responses"][status]["content"]
    name = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    return set(schema["components"]["schemas"][name]["properties"])


def test_schema_components_keep_each_endpoints_own_shape(client):
    # Nested serializers all named OutputSerializer must not collapse into one component.
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert _response_properties(schema, BALANCE, "get", "200") == {"balance"}
    assert _response_properties(schema, REDEEM, "post", "201") == {"credits", "balance", "entry"}
    assert "email" in _response_properties(schema, "/api/v1/me/", "get", "200")
