"""The billing page: balance, voucher redemption (htmx and plain), demo top-up, statement and
its downloads, through the test client."""

import csv
import io
import re
from datetime import timedelta

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.models import CreditAccount, EntryKind, LedgerEntry, Voucher
from billing.throttles import VoucherRedeemThrottle
from tests.factories import UserFactory, issue_token

pytestmark = pytest.mark.django_db

BILLING = reverse("billing:billing")
REDEEM = reverse("billing:voucher_redeem")
TOPUP = reverse("billing:demo_topup")
HTMX = {"HTTP_HX_REQUEST": "true"}


def _export_url(fmt: str) -> str:
    return reverse("billing:statement_export", args=[fmt])


def _voucher(credits: int = 30, *, expires_at=None) -> Voucher:
    batch = services.voucher_batch_create(
        count=1, credits=credits, expires_at=expires_at, note="test", actor=None
    )
    return batch.vouchers.get()


def _balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def _shown_balance(response) -> int:
    match = re.search(rb'data-testid="balance">(-?\d+)<', response.content)
    assert match, "the page shows no balance"
    return int(match.group(1))


def _statement_rows(response) -> list[str]:
    """The statement table's rows as text, tags stripped, whitespace collapsed."""
    html = response.content.decode()
    body = re.search(r'<div id="statement".*?</div>\s*$', html, re.S | re.M)
    assert body, "the page has no statement"
    rows = re.findall(r"<tbody>.*?</tbody>", body.group(0), re.S)
    if not rows:
        return []
    return [
        " ".join(re.sub(r"<[^>]+>", " ", row).split())
        for row in re.findall(r"<tr>(.*?)</tr>", rows[0], re.S)
    ]


def _xlsx_rows(response) -> list[tuple]:
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    return list(workbook.active.iter_rows(values_only=True))


def _csv_rows(response) -> list[list[str]]:
    text = response.content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def customer():
    return UserFactory()


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer)
    return client


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, name="Olga Staff")


# ----------------------------------------------------------------------------- balance


def test_billing_page_shows_the_balance(customer_client, customer, staff):
    services.grant(user=customer, amount=42, memo="Welcome", actor=staff)
    response = customer_client.get(BILLING)
    assert response.status_code == 200
    assert _shown_balance(response) == 42


def test_billing_page_needs_a_login(client):
    response = client.get(BILLING)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize(
    "url", [BILLING, REDEEM, TOPUP, reverse("billing:statement_export", args=["csv"])]
)
def test_every_billing_door_needs_a_login(client, url):
    response = client.post(url) if url in (REDEEM, TOPUP) else client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_account_page_shows_the_balance(customer_client, customer, staff):
    services.grant(user=customer, amount=17, memo="Welcome", actor=staff)
    response = customer_client.get(reverse("accounts:account"))
    assert response.status_code == 200
    assert _shown_balance(response) == 17
    assert BILLING.encode() in response.content


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", BILLING),
        ("get", REDEEM),
        ("get", TOPUP),
        ("post", reverse("billing:statement_export", args=["csv"])),
        ("post", reverse("billing:statement_export", args=["xlsx"])),
    ],
)
def test_wrong_methods_are_405(customer_client, method, url):
    assert getattr(customer_client, method)(url).status_code == 405


# ----------------------------------------------------------------------------- vouchers


def test_htmx_redemption_answers_the_voucher_partial_and_signals_the_change(
    customer_client, customer
):
    voucher = _voucher(credits=30)
    response = customer_client.post(REDEEM, {"code": voucher.display_code}, **HTMX)

    assert response.status_code == 200
    assert response["HX-Trigger"] == "credits-changed"
    html = response.content.decode()
    assert html.lstrip().startswith('<article id="voucher">')
    assert "<html" not in html
    assert "30 credits added to your balance." in html
    # The form is fresh, ready for another code.
    assert voucher.display_code not in html
    assert _balance(customer) == 30


def test_after_htmx_redemption_the_balance_partial_shows_the_new_balance(customer_client, customer):
    customer_client.post(REDEEM, {"code": _voucher(credits=30).display_code}, **HTMX)

    response = customer_client.get(BILLING, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="balance")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<article id="balance"')
    assert "<html" not in html
    assert 'id="voucher"' not in html
    assert _shown_balance(response) == 30


def test_statement_partial_refreshes_with_the_new_entry(customer_client):
    voucher = _voucher(credits=30)
    customer_client.post(REDEEM, {"code": voucher.display_code}, **HTMX)

    response = customer_client.get(BILLING, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="statement")

    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<div id="statement"')
    [row] = _statement_rows(response)
    assert "voucher" in row
    assert "+30" in row
    assert voucher.display_code in row


def test_plain_redemption_redirects_with_a_message(customer_client, customer):
    voucher = _voucher(credits=25)
    response = customer_client.post(REDEEM, {"code": voucher.display_code.lower()})

    assert response.status_code == 302
    assert response["Location"] == BILLING
    page = customer_client.get(BILLING)
    assert "25 credits added to your balance." in page.content.decode()
    assert _shown_balance(page) == 25
    voucher.refresh_from_db()
    assert voucher.redeemed_by == customer


def test_a_code_typed_with_spaces_and_lower_case_is_redeemed(customer_client, customer):
    voucher = _voucher(credits=5)
    typed = " ".join(voucher.display_code.lower().split("-"))
    response = customer_client.post(REDEEM, {"code": typed}, **HTMX)
    assert "5 credits added to your balance." in response.content.decode()
    assert _balance(customer) == 5


def _used_code():
    voucher = _voucher()
    services.redeem_voucher(user=UserFactory(), code=voucher.code)
    return voucher.display_code


def _expired_code():
    return _voucher(expires_at=timezone.now() - timedelta(minutes=1)).display_code


@pytest.mark.parametrize(
    ("make_code", "message"),
    [
        (lambda: "ABCD-EFGH-JKLM-NPQR", "There is no voucher with this code."),
        (lambda: "nonsense", "There is no voucher with this code."),
        (_used_code, "This voucher has already been used."),
        (_expired_code, "This voucher has expired."),
        (lambda: "", "This field is required."),
        (lambda: "   ", "This field is required."),
    ],
    ids=["unknown", "malformed", "used", "expired", "blank", "spaces"],
)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_bad_codes_get_a_clear_message_and_change_nothing(
    customer_client, customer, make_code, message, htmx
):
    code = make_code()
    entries_before = LedgerEntry.objects.count()

    response = customer_client.post(REDEEM, {"code": code}, **(HTMX if htmx else {}))

    html = response.content.decode()
    if htmx:
        # htmx swaps 2xx only: the error comes back in the partial with a 200.
        assert response.status_code == 200
        assert html.lstrip().startswith('<article id="voucher">')
        assert "HX-Trigger" not in response
    else:
        assert response.status_code == 400
        assert "<html" in html
    assert message in html
    assert 'role="alert"' in html
    assert _balance(customer) == 0
    assert LedgerEntry.objects.count() == entries_before
    assert not Voucher.objects.filter(redeemed_by=customer).exists()


def test_redemption_attempts_are_throttled_per_user(customer_client, customer, monkeypatch):
    monkeypatch.setattr(VoucherRedeemThrottle, "THROTTLE_RATES", {"voucher_redeem": "2/hour"})
    voucher = _voucher(credits=30)
    for _ in range(2):
        customer_client.post(REDEEM, {"code": "WRONG-CODE-GUESS-XXXX"}, **HTMX)

    response = customer_client.post(REDEEM, {"code": voucher.display_code}, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Too many attempts. Try again in" in html
    assert "HX-Trigger" not in response
    assert _balance(customer) == 0
    voucher.refresh_from_db()
    assert voucher.redeemed_at is None


def test_the_throttle_counts_each_user_apart(client, customer, monkeypatch):
    monkeypatch.setattr(VoucherRedeemThrottle, "THROTTLE_RATES", {"voucher_redeem": "1/hour"})
    client.force_login(customer)
    client.post(REDEEM, {"code": "WRONG-CODE-GUESS-XXXX"}, **HTMX)
    other = UserFactory()
    client.force_login(other)

    response = client.post(REDEEM, {"code": _voucher(credits=7).display_code}, **HTMX)

    assert "7 credits added to your balance." in response.content.decode()
    assert _balance(other) == 7


def test_the_page_and_the_api_share_one_redemption_limit(
    customer_client, customer, api_client, monkeypatch
):
    monkeypatch.setattr(VoucherRedeemThrottle, "THROTTLE_RATES", {"voucher_redeem": "2/hour"})
    for _ in range(2):
        customer_client.post(REDEEM, {"code": "WRONG-CODE-GUESS-XXXX"}, **HTMX)

    response = api_client.post(
        "/api/v1/vouchers/redeem/",
        {"code": _voucher().code},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {issue_token(customer)}",
    )

    assert response.status_code == 429
    assert _balance(customer) == 0


# ----------------------------------------------------------------------------- demo top-up


def test_without_demo_topup_there_is_no_button_and_no_free_credits(
    customer_client, customer, settings
):
    settings.DEMO_TOPUP = False
    page = customer_client.get(BILLING)
    assert TOPUP.encode() not in page.content
    assert b"demo credits" not in page.content

    response = customer_client.post(TOPUP, follow=True)

    assert "Top-ups are not available here." in response.content.decode()
    assert _balance(customer) == 0
    assert not LedgerEntry.objects.exists()


def test_htmx_demo_topup_when_off_adds_nothing(customer_client, customer, settings):
    settings.DEMO_TOPUP = False
    response = customer_client.post(TOPUP, **HTMX)
    assert "HX-Trigger" not in response
    assert _balance(customer) == 0


def test_demo_topup_button_adds_credits_when_on(customer_client, customer, settings):
    settings.DEMO_TOPUP = True
    settings.DEMO_TOPUP_CREDITS = 70
    page = customer_client.get(BILLING)
    assert TOPUP.encode() in page.content
    assert b"Add 70 demo credits" in page.content

    response = customer_client.post(TOPUP, **HTMX)

    assert response.status_code == 204
    assert response["HX-Trigger"] == "credits-changed"
    assert _balance(customer) == 70
    balance = customer_client.get(BILLING, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="balance")
    assert _shown_balance(balance) == 70


def test_plain_demo_topup_redirects_with_a_message(customer_client, customer, settings):
    settings.DEMO_TOPUP = True
    settings.DEMO_TOPUP_CREDITS = 100
    response = customer_client.post(TOPUP, follow=True)
    assert response.redirect_chain == [(BILLING, 302)]
    assert "100 demo credits added to your balance." in response.content.decode()
    assert _shown_balance(response) == 100
    assert LedgerEntry.objects.get().kind == EntryKind.TOPUP


# ----------------------------------------------------------------------------- statement


def test_statement_shows_only_the_users_own_entries(customer_client, customer, staff):
    services.grant(user=customer, amount=10, memo="mine-memo", actor=staff)
    services.grant(user=UserFactory(), amount=99, memo="someone-elses-memo", actor=staff)

    response = customer_client.get(BILLING)

    rows = _statement_rows(response)
    assert len(rows) == 1
    assert "mine-memo" in rows[0]
    assert "someone-elses-memo" not in response.content.decode()


def test_statement_rows_show_the_balance_after_each_movement(customer_client, customer, staff):
    services.grant(user=customer, amount=50, memo="first", actor=staff)
    services.charge(user=customer, amount=8, reference="job:1", memo="second")
    services.grant(user=customer, amount=5, memo="third", actor=staff)

    rows = _statement_rows(customer_client.get(BILLING))

    # Newest first: amount, then the balance after it.
    assert [re.search(r"([+-]\d+) (\d+) (\w+)", row).groups() for row in rows] == [
        ("+5", "47", "third"),
        ("-8", "42", "second"),
        ("+50", "50", "first"),
    ]


def test_statement_names_the_staff_member_on_grants(customer_client, customer, staff):
    services.grant(user=customer, amount=10, memo="Goodwill", actor=staff)
    services.charge(user=customer, amount=3, reference="job:2", memo="Prediction")

    rows = _statement_rows(customer_client.get(BILLING))

    assert "(by Olga Staff, MFDP staff)" in rows[1]
    assert "MFDP staff" not in rows[0]


def test_statement_is_paginated(customer_client, customer, staff, settings):
    settings.STATEMENT_PAGE_SIZE = 3
    for number in range(1, 8):
        services.grant(user=customer, amount=number, memo=f"memo-{number}", actor=staff)

    first = customer_client.get(BILLING)
    third = customer_client.get(BILLING, {"page": 3})

    assert [row.split("memo-")[1][0] for row in _statement_rows(first)] == ["7", "6", "5"]
    assert "Page 1 of 3" in first.content.decode()
    assert [row.split("memo-")[1][0] for row in _statement_rows(third)] == ["1"]
    assert "Page 3 of 3" in third.content.decode()


def test_pagination_links_keep_the_filters(customer_client, customer, staff, settings):
    settings.STATEMENT_PAGE_SIZE = 2
    for number in range(3):
        services.grant(user=customer, amount=1, memo=f"g{number}", actor=staff)
    services.charge(user=customer, amount=1, reference="job:3")

    response = customer_client.get(BILLING, {"kind": "grant"})

    assert "?kind=grant&amp;page=2" in response.content.decode()
    page_two = customer_client.get(BILLING, {"kind": "grant", "page": 2})
    assert len(_statement_rows(page_two)) == 1
    assert "grant" in _statement_rows(page_two)[0]


def test_statement_filters_by_kind(customer_client, customer, staff):
    services.grant(user=customer, amount=10, memo="granted", actor=staff)
    services.charge(user=customer, amount=4, reference="job:4", memo="charged")

    rows = _statement_rows(customer_client.get(BILLING, {"kind": "charge"}))

    assert len(rows) == 1
    assert "charged" in rows[0]


def test_statement_filters_by_dates(customer_client, customer, staff):
    services.grant(user=customer, amount=10, memo="today", actor=staff)
    today = timezone.localdate()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)

    def rows(**params):
        return _statement_rows(customer_client.get(BILLING, params))

    assert len(rows(date_from=today, date_to=today)) == 1
    assert len(rows(date_from=yesterday)) == 1
    assert rows(date_from=tomorrow) == []
    assert rows(date_to=yesterday) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "2025-03-10", "date_to": "2025-03-01"}, "The end date is before the start"),
        ({"date_from": "not-a-date"}, "Enter a valid date."),
        ({"date_to": "2025-02-31"}, "Enter a valid date."),
        ({"kind": "bogus"}, "Select a valid choice."),
    ],
    ids=["inverted", "bad-date", "impossible-date", "bogus-kind"],
)
def test_bad_filters_get_a_clear_message_not_a_500(
    customer_client, customer, staff, params, message
):
    services.grant(user=customer, amount=10, memo="granted", actor=staff)
    response = customer_client.get(BILLING, params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert _statement_rows(response) == []
    assert "No movements match." in response.content.decode()


def test_a_filter_error_is_tied_to_its_field_for_screen_readers(customer_client):
    html = customer_client.get(BILLING, {"date_from": "not-a-date"}).content.decode()
    assert 'aria-describedby="id_date_from_error"' in html
    assert re.search(r'id="id_date_from_error"[^>]*>Enter a valid date\.', html)


# ----------------------------------------------------------------------------- downloads


@pytest.fixture
def movements(customer, staff):
    services.grant(user=customer, amount=50, memo="=1+1", actor=staff)
    services.charge(user=customer, amount=8, reference="job:5", memo="@SUM(A1)")
    services.grant(user=UserFactory(), amount=99, memo="not yours", actor=staff)


def test_csv_download_lists_the_users_entries_with_formulas_as_text(customer_client, movements):
    response = customer_client.get(_export_url("csv"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="mfdp-statement.csv"' in response["Content-Disposition"]
    header, *rows = _csv_rows(response)
    assert header == ["Date", "Kind", "Credits", "Balance after", "Memo"]
    assert [row[1:] for row in rows] == [
        ["charge", "-8", "42", "'@SUM(A1)"],
        ["grant", "50", "50", "'=1+1"],
    ]


def test_xlsx_download_lists_the_users_entries_with_formulas_as_text(customer_client, movements):
    response = customer_client.get(_export_url("xlsx"))

    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = workbook.active
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert header == ("Date", "Kind", "Credits", "Balance after", "Memo")
    assert [row[1:] for row in rows] == [("charge", -8, 42, "@SUM(A1)"), ("grant", 50, 50, "=1+1")]
    memo_cells = [sheet.cell(row=n, column=5) for n in (2, 3)]
    # A string cell ("s"), never a formula ("f"): the spreadsheet shows the text.
    assert [cell.data_type for cell in memo_cells] == ["s", "s"]
    assert all(row[0].date() == timezone.localdate() for row in rows)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_downloads_honour_the_filters(customer_client, movements, fmt):
    response = customer_client.get(_export_url(fmt), {"kind": "grant"})
    rows = _csv_rows(response) if fmt == "csv" else _xlsx_rows(response)
    assert len(rows) == 2
    assert rows[1][1] == "grant"

    tomorrow = timezone.localdate() + timedelta(days=1)
    response = customer_client.get(_export_url(fmt), {"date_from": tomorrow})
    rows = _csv_rows(response) if fmt == "csv" else _xlsx_rows(response)
    assert len(rows) == 1  # the header only


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_download_with_bad_filters_sends_back_with_a_message(customer_client, movements, fmt):
    response = customer_client.get(_export_url(fmt), {"kind": "bogus"}, follow=True)
    assert response.redirect_chain[-1][0].startswith(BILLING)
    assert "Fix the statement" in response.content.decode()


def test_page_links_downloads_with_the_current_filters(customer_client):
    response = customer_client.get(BILLING, {"kind": "charge"})
    html = response.content.decode()
    assert f'href="{_export_url("csv")}?kind=charge"' in html
    assert f'href="{_export_url("xlsx")}?kind=charge"' in html
