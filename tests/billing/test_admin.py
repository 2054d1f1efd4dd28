"""Staff run billing from the admin: grants and adjustments through the service, a read-only
ledger, vouchers generated in batches and downloaded. Through the admin's own URLs."""

import csv
import io
import re
from datetime import timedelta

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from billing import services
from billing.models import CreditAccount, EntryKind, LedgerEntry, Voucher, VoucherBatch
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser():
    return User.objects.create_superuser(
        email="boss@example.com", password="x" * 12, name="Boris Boss"
    )


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def customer():
    return UserFactory(email="ivan@example.com")


def _account(user) -> CreditAccount:
    return CreditAccount.objects.get(user=user)


def _move_url(user) -> str:
    return reverse("admin:billing_creditaccount_move", args=[_account(user).pk])


def _staff_with_perms(*codenames: str) -> User:
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="billing", codename__in=codenames)
    )
    return user


# ----------------------------------------------------------------------------- grants


def test_staff_grant_records_the_actor_and_memo(staff_client, superuser, customer):
    response = staff_client.post(
        _move_url(customer), {"kind": "grant", "amount": "75", "memo": "Conference prize"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:billing_creditaccount_change", args=[_account(customer).pk]
    )
    entry = LedgerEntry.objects.get(account__user=customer)
    assert (entry.kind, entry.amount, entry.balance_after) == (EntryKind.GRANT, 75, 75)
    assert entry.actor == superuser
    assert entry.memo == "Conference prize"
    assert _account(customer).balance == 75


def test_the_customer_statement_shows_who_granted(client, superuser, customer):
    client.force_login(superuser)
    client.post(_move_url(customer), {"kind": "grant", "amount": "75", "memo": "Prize"})
    client.force_login(customer)

    page = client.get(reverse("billing:billing")).content.decode()

    assert "Prize" in page
    assert "(by Boris Boss, MFDP staff)" in page


def test_the_account_page_lists_the_movement_and_a_success_message(staff_client, customer):
    response = staff_client.post(
        _move_url(customer), {"kind": "grant", "amount": "75", "memo": "Prize"}, follow=True
    )
    html = response.content.decode()
    assert "+75 credits for ivan@example.com; the balance is now 75." in html
    assert "Prize" in html
    assert "boss@example.com" in html


def test_the_move_form_is_linked_from_the_account_page(staff_client, customer):
    response = staff_client.get(
        reverse("admin:billing_creditaccount_change", args=[_account(customer).pk])
    )
    assert response.status_code == 200
    assert _move_url(customer).encode() in response.content


@pytest.mark.parametrize("memo", ["", "   "])
def test_a_grant_needs_a_memo(staff_client, customer, memo):
    response = staff_client.post(
        _move_url(customer), {"kind": "grant", "amount": "5", "memo": memo}
    )
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not LedgerEntry.objects.exists()
    assert _account(customer).balance == 0


@pytest.mark.parametrize(
    ("kind", "amount", "message"),
    [
        ("grant", "-5", "A grant adds credits: enter a number above zero."),
        ("grant", "0", "A grant adds credits: enter a number above zero."),
        ("adjustment", "0", "Enter a number other than zero."),
        ("grant", "1.5", "Enter a whole number."),
    ],
)
def test_bad_amounts_are_refused_with_a_message(staff_client, customer, kind, amount, message):
    response = staff_client.post(_move_url(customer), {"kind": kind, "amount": amount, "memo": "m"})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not LedgerEntry.objects.exists()


def test_an_adjustment_below_zero_is_refused_with_a_clear_message(
    staff_client, superuser, customer
):
    services.grant(user=customer, amount=10, memo="Welcome", actor=superuser)

    response = staff_client.post(
        _move_url(customer), {"kind": "adjustment", "amount": "-11", "memo": "Correction"}
    )

    assert response.status_code == 200
    assert (
        "An adjustment of -11 would take the balance (10) below zero." in response.content.decode()
    )
    assert _account(customer).balance == 10
    assert LedgerEntry.objects.count() == 1


def test_an_adjustment_down_within_the_balance_is_recorded(staff_client, superuser, customer):
    services.grant(user=customer, amount=10, memo="Welcome", actor=superuser)
    staff_client.post(
        _move_url(customer), {"kind": "adjustment", "amount": "-4", "memo": "Double grant"}
    )
    entry = LedgerEntry.objects.filter(kind=EntryKind.ADJUSTMENT).get()
    assert (entry.amount, entry.balance_after, entry.actor) == (-4, 6, superuser)
    assert _account(customer).balance == 6


def test_a_customer_cannot_reach_the_grant_form(client, customer):
    client.force_login(customer)
    for response in (
        client.get(_move_url(customer)),
        client.post(_move_url(customer), {"kind": "grant", "amount": "1000", "memo": "free"}),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert _account(customer).balance == 0


def test_an_anonymous_visitor_cannot_reach_the_grant_form(client, customer):
    response = client.post(_move_url(customer), {"kind": "grant", "amount": "9", "memo": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert _account(customer).balance == 0


def test_staff_without_the_permission_get_403(client, customer):
    client.force_login(_staff_with_perms("view_creditaccount"))
    assert client.get(_move_url(customer)).status_code == 403
    response = client.post(_move_url(customer), {"kind": "grant", "amount": "9", "memo": "x"})
    assert response.status_code == 403
    assert _account(customer).balance == 0
    account_page = client.get(
        reverse("admin:billing_creditaccount_change", args=[_account(customer).pk])
    )
    assert account_page.status_code == 200
    assert _move_url(customer).encode() not in account_page.content


def test_staff_with_the_permission_may_grant(client, customer):
    staff = _staff_with_perms("view_creditaccount", "add_ledgerentry")
    client.force_login(staff)
    response = client.post(_move_url(customer), {"kind": "grant", "amount": "9", "memo": "x"})
    assert response.status_code == 302
    assert LedgerEntry.objects.get().actor == staff


def test_moving_credits_of_an_unknown_account_is_404(staff_client):
    url = reverse("admin:billing_creditaccount_move", args=[999999])
    assert staff_client.get(url).status_code == 404


# ----------------------------------------------------------------------------- accounts


@pytest.mark.parametrize("object_id", ["999999", "not-a-number"])
def test_a_missing_account_page_sends_back_to_the_index(staff_client, object_id):
    response = staff_client.get(f"/admin/billing/creditaccount/{object_id}/change/")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_accounts_are_searchable_by_email(staff_client, customer):
    UserFactory(email="someone.else@example.com")
    response = staff_client.get(reverse("admin:billing_creditaccount_changelist"), {"q": "ivan@"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "ivan@example.com" in html
    assert "someone.else@example.com" not in html


def test_account_balance_cannot_be_edited_in_the_admin(staff_client, customer):
    url = reverse("admin:billing_creditaccount_change", args=[_account(customer).pk])
    response = staff_client.post(url, {"balance": "1000000"})
    assert response.status_code == 403
    assert _account(customer).balance == 0


# ----------------------------------------------------------------------------- ledger


def test_ledger_entries_are_read_only_even_for_superusers(staff_client, superuser, customer):
    entry = services.grant(user=customer, amount=10, memo="Welcome", actor=superuser)
    add = reverse("admin:billing_ledgerentry_add")
    change = reverse("admin:billing_ledgerentry_change", args=[entry.pk])
    delete = reverse("admin:billing_ledgerentry_delete", args=[entry.pk])

    assert staff_client.get(add).status_code == 403
    assert staff_client.post(add, {"amount": "5", "memo": "x"}).status_code == 403
    assert staff_client.post(change, {"amount": "1000", "memo": "x"}).status_code == 403
    assert staff_client.get(delete).status_code == 403
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403

    entry.refresh_from_db()
    assert (entry.amount, entry.memo) == (10, "Welcome")
    assert LedgerEntry.objects.count() == 1


def test_a_ledger_entry_page_shows_it_without_save_buttons(staff_client, superuser, customer):
    entry = services.grant(user=customer, amount=10, memo="Welcome", actor=superuser)
    response = staff_client.get(reverse("admin:billing_ledgerentry_change", args=[entry.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Welcome" in html
    assert 'name="_save"' not in html
    assert reverse("admin:billing_ledgerentry_delete", args=[entry.pk]) not in html


def test_the_ledger_changelist_offers_no_delete_action(staff_client, superuser, customer):
    entry = services.grant(user=customer, amount=10, memo="Welcome", actor=superuser)
    changelist = reverse("admin:billing_ledgerentry_changelist")

    response = staff_client.get(changelist)
    assert response.status_code == 200
    assert b"delete_selected" not in response.content
    assert reverse("admin:billing_ledgerentry_add").encode() not in response.content

    staff_client.post(changelist, {"action": "delete_selected", "_selected_action": [entry.pk]})
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


# ----------------------------------------------------------------------------- vouchers


def _generate(client, **overrides) -> VoucherBatch:
    data = {"count": "3", "credits": "25", "expires_in_days": "30", "note": "Spring fair"}
    data.update(overrides)
    response = client.post(reverse("admin:billing_voucherbatch_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return VoucherBatch.objects.latest("created_at")


def test_a_voucher_batch_is_generated_through_the_add_page(staff_client, superuser):
    assert staff_client.get(reverse("admin:billing_voucherbatch_add")).status_code == 200
    before = timezone.now()

    batch = _generate(staff_client)

    assert (batch.count, batch.credits, batch.note, batch.created_by) == (
        3,
        25,
        "Spring fair",
        superuser,
    )
    assert before + timedelta(days=30) <= batch.expires_at <= timezone.now() + timedelta(days=30)
    codes = list(batch.vouchers.values_list("code", flat=True))
    assert len(codes) == 3
    assert all(re.fullmatch(r"[A-HJ-NP-Z2-9]{16}", code) for code in codes)


def test_the_batch_page_links_its_codes_and_the_downloads(staff_client, superuser):
    other = services.voucher_batch_create(
        count=1, credits=5, expires_at=None, note="other", actor=superuser
    ).vouchers.get()
    batch = _generate(staff_client)

    page = staff_client.get(reverse("admin:billing_voucherbatch_change", args=[batch.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert reverse("admin:billing_voucherbatch_codes", args=[batch.pk, "csv"]) in html
    assert reverse("admin:billing_voucherbatch_codes", args=[batch.pk, "xlsx"]) in html
    codes_list = re.search(r'href="([^"]*/billing/voucher/\?batch__id__exact=\d+)"', html)
    listed = staff_client.get(codes_list.group(1).replace("&amp;", "&")).content.decode()
    for voucher in batch.vouchers.all():
        assert voucher.display_code in listed
    assert other.display_code not in listed


def test_a_batch_without_expiry_never_expires(staff_client):
    batch = _generate(staff_client, expires_in_days="")
    assert batch.expires_at is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("count", "0"),
        ("count", "10001"),
        ("credits", "0"),
        ("credits", ""),
        ("expires_in_days", "0"),
    ],
)
def test_bad_batch_values_are_refused(staff_client, field, value):
    data = {"count": "3", "credits": "25", "expires_in_days": "30", "note": "x", field: value}
    response = staff_client.post(reverse("admin:billing_voucherbatch_add"), data)
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert not VoucherBatch.objects.exists()
    assert not Voucher.objects.exists()


def test_voucher_codes_download_as_csv(staff_client, customer):
    batch = _generate(staff_client)
    redeemed = batch.vouchers.first()
    services.redeem_voucher(user=customer, code=redeemed.code)

    url = reverse("admin:billing_voucherbatch_codes", args=[batch.pk, "csv"])
    response = staff_client.get(url)

    assert response.status_code == 200
    assert f'filename="vouchers-{batch.pk}.csv"' in response["Content-Disposition"]
    header, *rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert header == ["code", "credits", "expires", "state", "redeemed by"]
    assert sorted(row[0] for row in rows) == sorted(v.display_code for v in batch.vouchers.all())
    assert {row[0]: (row[1], row[3], row[4]) for row in rows}[redeemed.display_code] == (
        "25",
        "redeemed",
        "ivan@example.com",
    )
    assert sum(row[3] == "active" for row in rows) == 2


def test_voucher_codes_download_as_xlsx(staff_client):
    batch = _generate(staff_client)

    url = reverse("admin:billing_voucherbatch_codes", args=[batch.pk, "xlsx"])
    response = staff_client.get(url)

    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert header == ("code", "credits", "expires", "state", "redeemed by")
    assert sorted(row[0] for row in rows) == sorted(v.display_code for v in batch.vouchers.all())
    assert all(row[1] == 25 and row[3] == "active" for row in rows)
    assert all(row[2].date() == timezone.localtime(batch.expires_at).date() for row in rows)


def test_a_customer_cannot_download_voucher_codes(client, customer, superuser):
    batch = services.voucher_batch_create(
        count=2, credits=5, expires_at=None, note="x", actor=superuser
    )
    client.force_login(customer)
    response = client.get(reverse("admin:billing_voucherbatch_codes", args=[batch.pk, "csv"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_view_permission_cannot_download_voucher_codes(client, superuser):
    batch = services.voucher_batch_create(
        count=2, credits=5, expires_at=None, note="x", actor=superuser
    )
    client.force_login(_staff_with_perms("view_creditaccount"))
    response = client.get(reverse("admin:billing_voucherbatch_codes", args=[batch.pk, "csv"]))
    assert response.status_code == 403


@pytest.fixture
def vouchers_in_each_state(superuser, customer):
    live = services.voucher_batch_create(
        count=1, credits=5, expires_at=None, note="live", actor=superuser
    )
    old = services.voucher_batch_create(
        count=1,
        credits=5,
        expires_at=timezone.now() - timedelta(days=1),
        note="old",
        actor=superuser,
    )
    used = services.voucher_batch_create(
        count=1, credits=5, expires_at=None, note="used", actor=superuser
    )
    services.redeem_voucher(user=customer, code=used.vouchers.get().code)
    return {
        "active": live.vouchers.get(),
        "expired": old.vouchers.get(),
        "redeemed": used.vouchers.get(),
    }


@pytest.mark.parametrize("state", ["active", "redeemed", "expired"])
def test_vouchers_filter_by_state(staff_client, vouchers_in_each_state, state):
    response = staff_client.get(reverse("admin:billing_voucher_changelist"), {"state": state})
    html = response.content.decode()
    assert response.status_code == 200
    for name, voucher in vouchers_in_each_state.items():
        assert (voucher.display_code in html) == (name == state), name


@pytest.mark.parametrize(
    "typed",
    [
        lambda code: code,
        lambda code: code.lower(),
        lambda code: "-".join(code[i : i + 4] for i in range(0, 16, 4)),
        lambda code: "-".join(code[i : i + 4] for i in range(0, 16, 4)).lower(),
    ],
    ids=["as-stored", "lower", "dashes", "dashes-lower"],
)
def test_searching_a_code_finds_it_however_it_is_typed(staff_client, vouchers_in_each_state, typed):
    wanted = vouchers_in_each_state["active"]
    response = staff_client.get(
        reverse("admin:billing_voucher_changelist"), {"q": typed(wanted.code)}
    )
    html = response.content.decode()
    assert wanted.display_code in html
    assert vouchers_in_each_state["expired"].display_code not in html
    assert "1 result" in html


def test_a_code_search_keeps_the_state_filter(staff_client, vouchers_in_each_state):
    active = vouchers_in_each_state["active"]
    response = staff_client.get(
        reverse("admin:billing_voucher_changelist"),
        {"q": active.display_code, "state": "redeemed"},
    )
    html = response.content.decode()
    assert "0 results" in html
    assert reverse("admin:billing_voucher_change", args=[active.pk]) not in html


def test_vouchers_cannot_be_added_changed_or_deleted_one_by_one(
    staff_client, vouchers_in_each_state
):
    voucher = vouchers_in_each_state["active"]
    assert staff_client.get(reverse("admin:billing_voucher_add")).status_code == 403
    change = reverse("admin:billing_voucher_change", args=[voucher.pk])
    assert staff_client.post(change, {"code": "X" * 16}).status_code == 403
    delete = reverse("admin:billing_voucher_delete", args=[voucher.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    voucher.refresh_from_db()
    assert voucher.redeemed_at is None
