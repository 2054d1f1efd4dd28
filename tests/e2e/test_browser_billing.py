"""A customer's billing in a real browser (headless Chromium on the live server).

Logs in, redeems a voucher on the billing page and sees the balance and the statement change
in place (htmx, no page load); with the demo top-up on, the button does the same. See
conftest.py beside this file for the browser fixtures.
"""

from __future__ import annotations

import os
import re

import pytest

from billing import services
from billing.models import CreditAccount, EntryKind, LedgerEntry
from tests.factories import DEFAULT_PASSWORD, UserFactory

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the dev dependency group is not installed
    if os.environ.get("CI", "").strip().lower() in {"true", "1"}:
        raise
    pytest.skip("needs Playwright for Python: uv sync (the dev group)", allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "billing.customer@example.com"
# A marker set on the page's window: still there after an action means no page load happened,
# so the action went over htmx and swapped part of the page.
MARK_DOCUMENT_JS = "() => { window.__mfdpSameDocument = true; }"
SAME_DOCUMENT_JS = "() => window.__mfdpSameDocument === true"


@pytest.fixture
def customer():
    return UserFactory(email=EMAIL, name="Billing Customer")


def log_in_and_open_billing(page: Page) -> None:
    page.goto("/accounts/login/")
    form = page.locator("main form")
    form.get_by_label(re.compile(r"^E-mail", re.IGNORECASE)).fill(EMAIL)
    form.get_by_label(re.compile(r"^Password", re.IGNORECASE)).fill(DEFAULT_PASSWORD)
    form.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/accounts/$"))

    page.locator("header").get_by_role("link", name="Billing").click()
    expect(page).to_have_url(re.compile(r"/billing/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing")
    page.evaluate(MARK_DOCUMENT_JS)


def test_redeem_a_voucher_and_see_the_balance_change_in_place(tab, customer):
    staff = UserFactory(is_staff=True, name="Olga Staff")
    services.grant(user=customer, amount=10, memo="Welcome", actor=staff)
    voucher = services.voucher_batch_create(
        count=1, credits=30, expires_at=None, note="e2e", actor=staff
    ).vouchers.get()

    def see_balance_and_statement(page: Page) -> None:
        log_in_and_open_billing(page)
        expect(page.get_by_test_id("balance")).to_have_text("10")
        expect(page.locator("#statement tbody tr")).to_have_count(1)
        expect(page.locator("#statement tbody tr").first).to_contain_text("Olga Staff")

    def redeem(page: Page) -> None:
        voucher_box = page.locator("#voucher")
        # Typed as people type it: lower case, spaces for dashes.
        voucher_box.get_by_role("textbox", name="Voucher code").fill(
            voucher.display_code.lower().replace("-", " ")
        )
        voucher_box.get_by_role("button", name="Redeem").click()

        expect(page.locator("#voucher").get_by_role("status")).to_have_text(
            "30 credits added to your balance."
        )
        expect(page.get_by_test_id("balance")).to_have_text("40")
        rows = page.locator("#statement tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text("voucher")
        expect(rows.first).to_contain_text("+30")
        expect(rows.first).to_contain_text(voucher.display_code)
        expect(page.locator("#voucher").get_by_role("textbox", name="Voucher code")).to_have_value(
            ""
        )
        assert page.evaluate(SAME_DOCUMENT_JS), "redeeming reloaded the page (no htmx)"

    def redeem_again(page: Page) -> None:
        voucher_box = page.locator("#voucher")
        voucher_box.get_by_role("textbox", name="Voucher code").fill(voucher.display_code)
        voucher_box.get_by_role("button", name="Redeem").click()

        expect(page.locator("#voucher").get_by_role("alert")).to_have_text(
            "This voucher has already been used."
        )
        expect(page.get_by_test_id("balance")).to_have_text("40")
        assert page.evaluate(SAME_DOCUMENT_JS), "the refusal reloaded the page (no htmx)"

    tab.do(see_balance_and_statement)
    tab.do(redeem)
    tab.do(redeem_again)

    assert CreditAccount.objects.get(user=customer).balance == 40
    assert LedgerEntry.objects.filter(account__user=customer, kind=EntryKind.VOUCHER).count() == 1


def test_demo_topup_updates_the_balance_in_place(tab, customer, settings):
    settings.DEMO_TOPUP = True
    settings.DEMO_TOPUP_CREDITS = 100

    def top_up_twice(page: Page) -> None:
        log_in_and_open_billing(page)
        expect(page.get_by_test_id("balance")).to_have_text("0")
        expect(page.get_by_text("No movements match.")).to_be_visible()

        page.get_by_role("button", name="Add 100 demo credits").click()
        expect(page.get_by_test_id("balance")).to_have_text("100")
        expect(page.locator("#statement tbody tr")).to_have_count(1)
        expect(page.locator("#statement tbody tr").first).to_contain_text("top-up")

        # The button came back with the refreshed balance and still works.
        page.get_by_role("button", name="Add 100 demo credits").click()
        expect(page.get_by_test_id("balance")).to_have_text("200")
        expect(page.locator("#statement tbody tr")).to_have_count(2)
        assert page.evaluate(SAME_DOCUMENT_JS), "the top-up reloaded the page (no htmx)"

    tab.do(top_up_twice)

    assert CreditAccount.objects.get(user=customer).balance == 200
