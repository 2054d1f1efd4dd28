"""A customer's journey in a real browser (headless Chromium on the live server).

Signs up, creates an API token on the tokens page (htmx), calls GET /api/v1/me/ with it over
real HTTP, revokes it (accepting the browser's confirm dialog) and is refused; and switches
the pages to Russian. See conftest.py beside this file for the browser fixtures.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request

import pytest

try:
    from playwright.sync_api import Dialog, Page, expect
except ImportError:  # the dev dependency group is not installed
    if os.environ.get("CI", "").strip().lower() in {"true", "1"}:
        raise
    pytest.skip("needs Playwright for Python: uv sync (the dev group)", allow_module_level=True)

pytestmark = pytest.mark.browser

EMAIL = "browser.customer@example.com"
NAME = "Browser Customer"
PASSWORD = "a-fine-long-password-7"
TOKEN_NAME = "CRM export"
# A marker set on the page's window: still there after an action means no page load happened,
# so the action went over htmx and swapped part of the page.
SAME_DOCUMENT_JS = "() => window.__mfdpSameDocument === true"


def api_get(base_url: str, path: str, key: str) -> tuple[int, dict]:
    """GET over real HTTP with a Bearer token; returns the status and the JSON body."""
    request = urllib.request.Request(
        base_url + path,
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body)
        except ValueError:
            return error.code, {"unparsed body": body.decode(errors="replace")[:2000]}


def test_sign_up_create_token_call_api_revoke(tab, live_server):
    def sign_up(page: Page) -> None:
        page.goto("/")
        page.locator("header").get_by_role("button", name="Sign up").click()
        expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
        form = page.locator("main form")
        # Labels by their first words, so that a hint added to one does not break the test.
        form.get_by_label(re.compile(r"^E-mail", re.IGNORECASE)).fill(EMAIL)
        form.get_by_label(re.compile(r"^Name\b", re.IGNORECASE)).fill(NAME)
        form.get_by_label(re.compile(r"^Password$", re.IGNORECASE)).fill(PASSWORD)
        form.get_by_label(re.compile(r"^Password confirmation", re.IGNORECASE)).fill(PASSWORD)
        form.get_by_role("button", name="Sign up").click()

        expect(page).to_have_url(re.compile(r"/accounts/$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
        expect(page.get_by_role("status")).to_contain_text("Your account is ready.")
        expect(page.locator("main dl")).to_contain_text(EMAIL)

    def create_token(page: Page) -> str:
        page.locator("header").get_by_role("link", name="API tokens").click()
        expect(page).to_have_url(re.compile(r"/accounts/tokens/$"))
        expect(page.get_by_text("You have no tokens yet.")).to_be_visible()
        page.evaluate("() => { window.__mfdpSameDocument = true; }")

        page.get_by_role("textbox", name="Token name").fill(TOKEN_NAME)
        page.get_by_role("button", name="Create token").click()

        new_token = page.get_by_test_id("new-token")
        expect(new_token).to_be_visible()
        assert page.evaluate(SAME_DOCUMENT_JS), "creating the token reloaded the page (no htmx)"
        expect(page.locator("#token-panel tbody tr", has_text=TOKEN_NAME)).to_contain_text("active")
        key = new_token.inner_text().strip()
        assert re.fullmatch(r"\S{20,}", key), f"the page shows no plausible token: {key!r}"
        return key

    def revoke_token(page: Page) -> str:
        dialogs: list[str] = []

        def accept(dialog: Dialog) -> None:
            dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.accept()

        page.once("dialog", accept)
        row = page.locator("#token-panel tbody tr", has_text=TOKEN_NAME)
        row.get_by_role("button", name="Revoke").click()

        expect(row).to_have_class(re.compile(r"\brevoked\b"))
        expect(row).to_contain_text(re.compile(r"\brevoked\b"))
        expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
        expect(page.get_by_test_id("new-token")).to_have_count(0)
        assert page.evaluate(SAME_DOCUMENT_JS), "revoking reloaded the page (no htmx)"
        assert len(dialogs) == 1, f"expected one confirm dialog, saw {dialogs}"
        return dialogs[0]

    tab.do(sign_up)
    key = tab.do(create_token)

    status, body = api_get(live_server.url, "/api/v1/me/", key)
    assert status == 200, body
    assert body["email"] == EMAIL
    assert body["name"] == NAME

    dialog = tab.do(revoke_token)
    assert dialog.startswith("confirm: "), dialog
    assert TOKEN_NAME in dialog

    status, body = api_get(live_server.url, "/api/v1/me/", key)
    assert status == 401, body
    assert body.get("code") == "invalid_token", body


def test_language_switch_to_russian_and_back(tab):
    def to_russian(page: Page) -> None:
        page.goto("/")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Machine-learning predictions, paid per row"
        )

        page.locator("header").get_by_role("button", name="RU", exact=True).click()

        expect(page.locator("html")).to_have_attribute("lang", "ru")
        expect(page).to_have_url(re.compile(r"/$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Прогнозы машинного обучения с оплатой за строку"
        )
        header = page.locator("header")
        expect(header.get_by_role("button", name="Зарегистрироваться")).to_be_visible()
        expect(header.get_by_role("link", name="Войти")).to_be_visible()
        expect(header.get_by_role("button", name="RU", exact=True)).to_have_attribute(
            "aria-current", "true"
        )

    def stays_russian(page: Page) -> None:
        # The choice is kept (a cookie), not only for the page the switch redirected to.
        page.locator("header").get_by_role("button", name="Зарегистрироваться").click()
        expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
        expect(page.locator("html")).to_have_attribute("lang", "ru")
        expect(page.get_by_role("heading", level=1)).to_have_text("Создайте аккаунт")

    def back_to_english(page: Page) -> None:
        page.locator("header").get_by_role("button", name="EN", exact=True).click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")

    tab.do(to_russian)
    tab.do(stays_russian)
    tab.do(back_to_english)
