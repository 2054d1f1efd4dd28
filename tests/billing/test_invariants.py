"""Random sequences of grants, charges, refunds, adjustments and voucher redemptions keep
every account's balance equal to the sum of its entries, and never below zero."""

import itertools

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from billing import services
from billing.models import CreditAccount, LedgerEntry
from tests.factories import UserFactory

_references = itertools.count()


def _reference(prefix: str) -> str:
    return f"{prefix}:{next(_references)}"


class BillingMachine(RuleBasedStateMachine):
    charges = Bundle("charges")
    vouchers = Bundle("vouchers")

    @initialize()
    def open_accounts(self):
        self.customers = [UserFactory(), UserFactory()]
        self.expected = {customer.pk: 0 for customer in self.customers}

    customer_index = st.integers(min_value=0, max_value=1)
    credits = st.integers(min_value=1, max_value=50)

    @rule(who=customer_index, amount=credits)
    def grant(self, who, amount):
        customer = self.customers[who]
        services.grant(user=customer, amount=amount, memo="grant", actor=None)
        self.expected[customer.pk] += amount

    @rule(target=charges, who=customer_index, amount=credits)
    def charge(self, who, amount):
        customer = self.customers[who]
        try:
            entry = services.charge(user=customer, amount=amount, reference=_reference("c"))
        except services.InsufficientCredits:
            assert self.expected[customer.pk] < amount
            return None
        self.expected[customer.pk] -= amount
        return entry

    @rule(charge=charges, amount=credits)
    def refund(self, charge, amount):
        if charge is None:
            return
        refunded = charge.refunds.aggregate(s=Sum("amount"))["s"] or 0
        try:
            services.refund(charge=charge, amount=amount, reference=_reference("r"))
        except services.RefundExceedsCharge:
            assert refunded + amount > -charge.amount
            return
        assert refunded + amount <= -charge.amount
        self.expected[charge.account.user_id] += amount

    @rule(charge=charges)
    def replay_a_charge(self, charge):
        if charge is None:
            return
        again = services.charge(
            user=charge.account.user, amount=-charge.amount, reference=charge.reference
        )
        assert again.pk == charge.pk

    @rule(who=customer_index, amount=st.integers(min_value=-60, max_value=60).filter(bool))
    def adjust(self, who, amount):
        customer = self.customers[who]
        try:
            services.adjust(user=customer, amount=amount, memo="fix", actor=None)
        except services.InsufficientCredits:
            assert self.expected[customer.pk] + amount < 0
            return
        self.expected[customer.pk] += amount

    @rule(target=vouchers, amount=credits)
    def make_voucher(self, amount):
        batch = services.voucher_batch_create(count=1, credits=amount, expires_at=None, actor=None)
        return batch.vouchers.get()

    @rule(voucher=consumes(vouchers), who=customer_index, twice=st.booleans())
    def redeem(self, voucher, who, twice):
        customer = self.customers[who]
        services.redeem_voucher(user=customer, code=voucher.code)
        self.expected[customer.pk] += voucher.batch.credits
        if twice:
            with pytest.raises(services.VoucherRedeemed):
                services.redeem_voucher(user=customer, code=voucher.code)

    @invariant()
    def balances_equal_their_ledgers_and_never_go_negative(self):
        if not hasattr(self, "customers"):
            return
        for customer in self.customers:
            account = CreditAccount.objects.get(user=customer)
            ledger = LedgerEntry.objects.filter(account=account).aggregate(s=Sum("amount"))["s"]
            assert account.balance == (ledger or 0) == self.expected[customer.pk]
            assert account.balance >= 0


BillingMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.django_db
def test_random_movements_keep_the_invariants():
    BillingMachine.TestCase().runTest()
