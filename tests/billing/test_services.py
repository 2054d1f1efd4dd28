from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing import services
from billing.models import CreditAccount, EntryKind, LedgerEntry
from mfdp.errors import InvalidInput
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def _ledger_sum(user) -> int:
    return sum(LedgerEntry.objects.filter(account__user=user).values_list("amount", flat=True))


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, name="Olga Staff")


@pytest.fixture
def customer():
    return UserFactory()


def test_every_user_gets_an_account_with_zero_balance(customer):
    assert _balance(customer) == 0


def test_grant_records_actor_memo_and_balance_after(customer, staff):
    entry = services.grant(user=customer, amount=40, memo="Welcome", actor=staff)
    assert (entry.kind, entry.amount, entry.balance_after) == (EntryKind.GRANT, 40, 40)
    assert entry.actor == staff
    assert entry.memo == "Welcome"
    assert _balance(customer) == 40


@pytest.mark.parametrize("memo", ["", "   "])
def test_grant_requires_a_memo(customer, staff, memo):
    with pytest.raises(InvalidInput):
        services.grant(user=customer, amount=5, memo=memo, actor=staff)
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize("amount", [0, -3, 2.5, True, "7"])
def test_grant_refuses_amounts_that_are_not_positive_whole_numbers(customer, staff, amount):
    with pytest.raises(InvalidInput):
        services.grant(user=customer, amount=amount, memo="x", actor=staff)
    assert _balance(customer) == 0


def test_charge_takes_credits(customer, staff):
    services.grant(user=customer, amount=10, memo="m", actor=staff)
    entry = services.charge(user=customer, amount=4, reference="job:1")
    assert (entry.kind, entry.amount, entry.balance_after) == (EntryKind.CHARGE, -4, 6)
    assert _balance(customer) == 6


def test_charge_beyond_the_balance_carries_the_shortfall_and_writes_nothing(customer, staff):
    services.grant(user=customer, amount=3, memo="m", actor=staff)
    with pytest.raises(services.InsufficientCredits) as caught:
        services.charge(user=customer, amount=10, reference="job:1")
    assert caught.value.shortfall == 7
    assert caught.value.details == {"balance": 3, "required": 10, "shortfall": 7}
    assert caught.value.http_status == 402
    assert _balance(customer) == 3
    assert LedgerEntry.objects.filter(kind=EntryKind.CHARGE).count() == 0


def test_same_reference_returns_the_first_entry_and_writes_nothing(customer, staff):
    services.grant(user=customer, amount=10, memo="m", actor=staff)
    first = services.charge(user=customer, amount=4, reference="job:7")
    again = services.charge(user=customer, amount=4, reference="job:7")
    assert again.pk == first.pk
    assert _balance(customer) == 6
    assert LedgerEntry.objects.filter(reference="job:7").count() == 1


def test_a_reference_cannot_be_reused_for_another_movement(customer, staff):
    services.grant(user=customer, amount=10, memo="m", actor=staff)
    services.charge(user=customer, amount=4, reference="job:7")
    with pytest.raises(services.ReferenceReused):
        services.charge(user=customer, amount=5, reference="job:7")
    with pytest.raises(services.ReferenceReused):
        services.charge(user=UserFactory(), amount=4, reference="job:7")
    assert _balance(customer) == 6


def test_refunds_never_exceed_the_charge(customer, staff):
    services.grant(user=customer, amount=10, memo="m", actor=staff)
    charge = services.charge(user=customer, amount=6, reference="job:1")
    services.refund(charge=charge, amount=4, reference="job:1:refund:a")
    with pytest.raises(services.RefundExceedsCharge) as caught:
        services.refund(charge=charge, amount=3, reference="job:1:refund:b")
    assert caught.value.details == {"refundable": 2}
    last = services.refund(charge=charge, amount=2, reference="job:1:refund:c")
    assert last.balance_after == 10
    assert last.refund_of == charge
    assert _balance(customer) == 10


def test_only_charges_can_be_refunded(customer, staff):
    grant = services.grant(user=customer, amount=10, memo="m", actor=staff)
    with pytest.raises(InvalidInput):
        services.refund(charge=grant, amount=1, reference="r")


def test_adjustment_goes_both_ways_but_never_below_zero(customer, staff):
    services.adjust(user=customer, amount=5, memo="fix", actor=staff)
    services.adjust(user=customer, amount=-2, memo="fix", actor=staff)
    with pytest.raises(services.InsufficientCredits):
        services.adjust(user=customer, amount=-4, memo="fix", actor=staff)
    assert _balance(customer) == 3
    with pytest.raises(InvalidInput):
        services.adjust(user=customer, amount=0, memo="fix", actor=staff)


def test_demo_topup_exists_only_when_enabled(customer, settings):
    settings.DEMO_TOPUP = False
    with pytest.raises(services.DemoTopupDisabled):
        services.demo_topup(user=customer)
    settings.DEMO_TOPUP = True
    settings.DEMO_TOPUP_CREDITS = 25
    entry = services.demo_topup(user=customer)
    assert (entry.kind, entry.amount) == (EntryKind.TOPUP, 25)


def test_charge_links_what_it_paid_for(customer, staff):
    services.grant(user=customer, amount=10, memo="m", actor=staff)
    subject = UserFactory()  # any model row stands in for the job to come
    entry = services.charge(user=customer, amount=1, reference="x", subject=subject)
    assert LedgerEntry.objects.get(pk=entry.pk).subject == subject


# Vouchers


def _one_voucher(credits=30, expires_at=None):
    batch = services.voucher_batch_create(
        count=1, credits=credits, expires_at=expires_at, note="t", actor=None
    )
    return batch.vouchers.get()


def test_voucher_codes_are_unguessable_and_easy_to_read_aloud():
    batch = services.voucher_batch_create(count=200, credits=1, expires_at=None, actor=None)
    codes = list(batch.vouchers.values_list("code", flat=True))
    assert len(set(codes)) == 200
    for code in codes:
        assert len(code) == 16
        assert not set(code) & set("0O1I")
        assert set(code) <= set(services.VOUCHER_ALPHABET)


def test_voucher_redeems_once_case_insensitively(customer):
    voucher = _one_voucher(credits=30)
    entry = services.redeem_voucher(user=customer, code=voucher.display_code.lower())
    assert (entry.kind, entry.amount, entry.balance_after) == (EntryKind.VOUCHER, 30, 30)
    with pytest.raises(services.VoucherRedeemed):
        services.redeem_voucher(user=customer, code=voucher.code)
    with pytest.raises(services.VoucherRedeemed):
        services.redeem_voucher(user=UserFactory(), code=voucher.code)
    assert _balance(customer) == 30


def test_expired_and_unknown_vouchers_are_refused():
    expired = _one_voucher(expires_at=timezone.now() - timedelta(minutes=1))
    customer = UserFactory()
    with pytest.raises(services.VoucherExpired):
        services.redeem_voucher(user=customer, code=expired.code)
    with pytest.raises(services.VoucherUnknown):
        services.redeem_voucher(user=customer, code="ABCD-EFGH-JKLM-NPQR")
    with pytest.raises(services.VoucherUnknown):
        services.redeem_voucher(user=customer, code="")
    assert _balance(customer) == 0


@pytest.mark.parametrize("count", [0, services.VOUCHER_BATCH_LIMIT + 1])
def test_voucher_batch_size_is_bounded(count):
    with pytest.raises(InvalidInput):
        services.voucher_batch_create(count=count, credits=1, expires_at=None, actor=None)


# The ledger is append-only and balances hold their invariants in the database itself.


def test_ledger_entries_refuse_changes_through_the_orm(customer, staff):
    entry = services.grant(user=customer, amount=10, memo="m", actor=staff)
    entry.memo = "edited"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        LedgerEntry.objects.filter(pk=entry.pk).update(memo="edited")
    with pytest.raises(TypeError):
        LedgerEntry.objects.all().delete()


def test_the_database_refuses_updates_of_ledger_entries(customer, staff):
    entry = services.grant(user=customer, amount=10, memo="m", actor=staff)
    refused = pytest.raises(Exception, match="append-only")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE billing_ledgerentry SET amount = 1000 WHERE id = %s", [entry.pk])
    assert LedgerEntry.objects.get(pk=entry.pk).amount == 10


def test_a_raw_update_making_a_balance_negative_fails_on_the_constraint(customer, staff):
    services.grant(user=customer, amount=5, memo="m", actor=staff)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_creditaccount SET balance = balance - 6 WHERE user_id = %s",
            [customer.pk],
        )
    assert _balance(customer) == 5 == _ledger_sum(customer)


def test_absurd_amounts_are_refused_before_the_database(customer, staff):
    with pytest.raises(InvalidInput):
        services.grant(user=customer, amount=services.MAX_AMOUNT + 1, memo="typo", actor=staff)
    with pytest.raises(InvalidInput):
        services.adjust(user=customer, amount=-(services.MAX_AMOUNT + 1), memo="x", actor=staff)
    with pytest.raises(InvalidInput):
        services.voucher_batch_create(
            count=1, credits=services.MAX_VOUCHER_CREDITS + 1, expires_at=None, actor=None
        )
    assert _balance(customer) == 0


def test_a_demo_topup_of_nothing_is_refused_not_written(customer, settings):
    settings.DEMO_TOPUP = True
    settings.DEMO_TOPUP_CREDITS = 0
    with pytest.raises(InvalidInput):
        services.demo_topup(user=customer)
    assert not LedgerEntry.objects.exists()


def test_an_adjustment_below_zero_says_so_in_staff_terms(customer, staff):
    services.grant(user=customer, amount=10, memo="m", actor=staff)
    with pytest.raises(services.InsufficientCredits, match="below zero"):
        services.adjust(user=customer, amount=-11, memo="fix", actor=staff)
