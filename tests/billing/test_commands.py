"""Operator commands: grant_credits, make_vouchers, and the demo data's credits and voucher."""

import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.management.commands.load_demo_data import DEMO_CUSTOMER, WELCOME_CREDITS
from billing.models import CreditAccount, EntryKind, LedgerEntry, VoucherBatch
from tests.factories import UserFactory, issue_token

pytestmark = pytest.mark.django_db

CODE = re.compile(r"\b[A-HJ-NP-Z2-9]{4}(?:-[A-HJ-NP-Z2-9]{4}){3}\b")


def _run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


# ----------------------------------------------------------------------------- grant_credits


def test_grant_credits_gives_credits_with_the_memo():
    customer = UserFactory(email="ivan@example.com")

    out, _ = _run("grant_credits", "Ivan@Example.com", "150", "--memo", "Pilot project")

    assert "ivan@example.com: +150 credits, balance 150" in out
    entry = LedgerEntry.objects.get(account__user=customer)
    assert (entry.kind, entry.amount, entry.memo, entry.actor) == (
        EntryKind.GRANT,
        150,
        "Pilot project",
        None,
    )
    assert _balance(customer) == 150


def test_grant_credits_records_the_staff_actor():
    customer = UserFactory()
    staff = UserFactory(is_staff=True)
    _run("grant_credits", customer.email, "5", "--memo", "m", "--actor", staff.email)
    assert LedgerEntry.objects.get().actor == staff


def test_grant_credits_refuses_an_actor_who_is_not_staff():
    customer, other = UserFactory(), UserFactory()
    with pytest.raises(CommandError, match="is not staff"):
        _run("grant_credits", customer.email, "5", "--memo", "m", "--actor", other.email)
    assert not LedgerEntry.objects.exists()


def test_grant_credits_with_a_reference_grants_once():
    customer = UserFactory()
    args = ("grant_credits", customer.email, "40", "--memo", "Invoice 17", "--reference", "inv-17")

    _run(*args)
    out, _ = _run(*args)

    assert _balance(customer) == 40
    assert LedgerEntry.objects.count() == 1
    assert "already" in out.lower()


def test_grant_credits_refuses_a_reference_used_for_another_amount():
    customer = UserFactory()
    _run("grant_credits", customer.email, "40", "--memo", "m", "--reference", "inv-18")
    with pytest.raises(CommandError, match="already belongs to another movement"):
        _run("grant_credits", customer.email, "41", "--memo", "m", "--reference", "inv-18")
    assert _balance(customer) == 40


def test_grant_credits_to_an_unknown_user_fails():
    with pytest.raises(CommandError, match=re.escape("No user with the e-mail nobody@example.com")):
        _run("grant_credits", "nobody@example.com", "10", "--memo", "m")
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize("amount", ["0", "-5"])
def test_grant_credits_refuses_zero_or_negative_amounts(amount):
    customer = UserFactory()
    with pytest.raises(CommandError, match="from 1 to"):
        _run("grant_credits", customer.email, amount, "--memo", "m")
    assert _balance(customer) == 0
    assert not LedgerEntry.objects.exists()


def test_grant_credits_requires_a_memo():
    customer = UserFactory()
    with pytest.raises(CommandError, match="memo"):
        _run("grant_credits", customer.email, "10")
    with pytest.raises(CommandError, match="memo"):
        _run("grant_credits", customer.email, "10", "--memo", "  ")
    assert not LedgerEntry.objects.exists()


# ----------------------------------------------------------------------------- make_vouchers


def test_make_vouchers_prints_redeemable_codes(api_client):
    out, err = _run("make_vouchers", "--count", "4", "--credits", "20")

    codes = out.split()
    assert len(codes) == 4
    assert all(CODE.fullmatch(code) for code in codes)
    assert len(set(codes)) == 4
    assert "4 codes of 20 credits each; they never expire." in err
    batch = VoucherBatch.objects.get()
    assert (batch.count, batch.credits, batch.expires_at) == (4, 20, None)

    customer = UserFactory()
    response = api_client.post(
        "/api/v1/vouchers/redeem/",
        {"code": codes[2]},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {issue_token(customer)}",
    )
    assert response.status_code == 201
    assert response.json()["balance"] == 20
    assert _balance(customer) == 20


def test_make_vouchers_with_expiry():
    before = timezone.now()
    out, err = _run("make_vouchers", "--count", "1", "--credits", "5", "--expires", "7")
    batch = VoucherBatch.objects.get()
    assert before + timedelta(days=7) <= batch.expires_at <= timezone.now() + timedelta(days=7)
    assert "they expire " in err
    assert CODE.fullmatch(out.strip())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--count", "0", "--credits", "5"), "A batch holds from 1 to"),
        (("--count", "2", "--credits", "0"), "from 1 to"),
        (("--count", "2", "--credits", "5", "--expires", "0"), "--expires takes a number"),
    ],
)
def test_make_vouchers_refuses_bad_values(args, message):
    with pytest.raises(CommandError, match=message):
        _run("make_vouchers", *args)
    assert not VoucherBatch.objects.exists()


# ----------------------------------------------------------------------------- demo data


def test_demo_data_gives_the_demo_customer_credits_once():
    _run("load_demo_data")
    _run("load_demo_data")

    entries = LedgerEntry.objects.filter(account__user__email=DEMO_CUSTOMER)
    assert [(entry.kind, entry.amount) for entry in entries] == [(EntryKind.GRANT, WELCOME_CREDITS)]
    assert entries.get().actor.is_staff
    assert CreditAccount.objects.get(user__email=DEMO_CUSTOMER).balance == WELCOME_CREDITS
    assert VoucherBatch.objects.count() == 1


def test_demo_data_prints_a_working_voucher(api_client):
    out, _ = _run("load_demo_data")
    code = CODE.search(out).group(0)
    customer = UserFactory()

    response = api_client.post(
        "/api/v1/vouchers/redeem/",
        {"code": code},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {issue_token(customer)}",
    )

    assert response.status_code == 201
    assert _balance(customer) == response.json()["credits"] > 0
    # Run again: it prints another voucher, not the one just used.
    again, _ = _run("load_demo_data")
    assert CODE.search(again).group(0) != code


@pytest.mark.parametrize(
    "args",
    [
        ("make_vouchers", "--count", "1", "--credits", str(10**20)),
        ("grant_credits", "ivan@example.com", str(10**20), "--memo", "m"),
    ],
    ids=["voucher-credits", "grant-amount"],
)
def test_amounts_too_large_for_the_ledger_are_refused_with_a_message(args):
    UserFactory(email="ivan@example.com")
    with pytest.raises(CommandError):
        _run(*args)
