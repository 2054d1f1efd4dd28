"""The billing invariants under real concurrency: threads with their own connections to
PostgreSQL, committed transactions, row locks doing the work."""

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.db.models import Sum

from billing import services
from billing.models import CreditAccount, EntryKind, LedgerEntry
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# PostgreSQL allows 100 connections here; the threads all start together, and at most this
# many hold a connection at once (the rest queue on the gate, then on the row lock).
CONNECTIONS_AT_ONCE = 40


def _race(threads: int, attempt: Callable[[int], str]) -> Counter:
    """Run `attempt(i)` in `threads` threads released together; count their outcomes."""
    start = threading.Barrier(threads)
    gate = threading.BoundedSemaphore(CONNECTIONS_AT_ONCE)

    def run(i: int) -> str:
        start.wait()
        with gate:
            try:
                return attempt(i)
            finally:
                connections.close_all()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return Counter(pool.map(run, range(threads)))


def _assert_invariants(user) -> int:
    account = CreditAccount.objects.get(user=user)
    ledger_sum = LedgerEntry.objects.filter(account=account).aggregate(s=Sum("amount"))["s"] or 0
    assert account.balance == ledger_sum
    assert account.balance >= 0
    last = LedgerEntry.objects.filter(account=account).order_by("-created_at", "-id").first()
    assert last is None or last.balance_after == account.balance
    return account.balance


def test_200_threads_charging_1_against_50_exactly_50_succeed():
    customer = UserFactory()
    services.grant(user=customer, amount=50, memo="start", actor=None)

    def charge(i: int) -> str:
        try:
            services.charge(user=customer, amount=1, reference=f"race:{customer.pk}:{i}")
        except services.InsufficientCredits:
            return "insufficient"
        return "charged"

    outcomes = _race(200, charge)

    assert outcomes == Counter(charged=50, insufficient=150)
    assert _assert_invariants(customer) == 0
    assert LedgerEntry.objects.filter(account__user=customer, kind=EntryKind.CHARGE).count() == 50


def test_the_same_charge_reference_from_20_threads_writes_one_entry():
    customer = UserFactory()
    services.grant(user=customer, amount=100, memo="start", actor=None)
    reference = f"job:{customer.pk}:one"

    def charge(i: int) -> str:
        return str(services.charge(user=customer, amount=7, reference=reference).pk)

    outcomes = _race(20, charge)

    assert len(outcomes) == 1, "every thread must get the same, first entry"
    assert LedgerEntry.objects.filter(reference=reference).count() == 1
    assert _assert_invariants(customer) == 93


def test_one_voucher_redeemed_from_20_threads_credits_once():
    batch = services.voucher_batch_create(count=1, credits=25, expires_at=None, actor=None)
    code = batch.vouchers.get().code
    customers = [UserFactory() for _ in range(20)]

    def redeem(i: int) -> str:
        try:
            services.redeem_voucher(user=customers[i], code=code)
        except services.VoucherRedeemed:
            return "already redeemed"
        return "redeemed"

    outcomes = _race(20, redeem)

    assert outcomes == Counter({"redeemed": 1, "already redeemed": 19})
    balances = sorted(_assert_invariants(customer) for customer in customers)
    assert balances == [0] * 19 + [25]


def test_concurrent_refunds_never_exceed_the_charge():
    customer = UserFactory()
    services.grant(user=customer, amount=30, memo="start", actor=None)
    charge = services.charge(user=customer, amount=10, reference=f"job:{customer.pk}")

    def refund(i: int) -> str:
        try:
            services.refund(charge=charge, amount=3, reference=f"job:{customer.pk}:refund:{i}")
        except services.RefundExceedsCharge:
            return "refused"
        return "refunded"

    outcomes = _race(20, refund)

    assert outcomes == Counter(refunded=3, refused=17)
    assert _assert_invariants(customer) == 29
