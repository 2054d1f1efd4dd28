"""Every change of a balance happens here.

Each public function runs in one transaction that locks the customer's account row
(select_for_update), writes exactly one ledger entry and the new cached balance, and is
idempotent on its `reference`: called again with the same reference it returns the first
entry and writes nothing. Nothing else in the code base writes `CreditAccount.balance`.
"""

import logging
import secrets
import uuid
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from mfdp.errors import DomainError, InvalidInput

from .models import CreditAccount, EntryKind, LedgerEntry, Voucher, VoucherBatch

logger = logging.getLogger(__name__)

# Safe to read aloud and to type: no 0/O, no 1/I.
VOUCHER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
VOUCHER_LENGTH = 16  # 32**16 = 2**80 codes: unguessable
VOUCHER_BATCH_LIMIT = 10_000
# Far above any real movement, far below what a BIGINT holds: a typo is refused, not stored.
MAX_AMOUNT = 10**12
MAX_VOUCHER_CREDITS = 10**9


class InsufficientCredits(DomainError):
    code = "insufficient_credits"
    http_status = 402

    def __init__(self, *, balance: int, required: int, message: str = "") -> None:
        shortfall = required - balance
        super().__init__(
            message
            or _("Not enough credits: this needs %(required)d, the balance is %(balance)d.")
            % {"required": required, "balance": balance},
            balance=balance,
            required=required,
            shortfall=shortfall,
        )
        self.shortfall = shortfall


class RefundExceedsCharge(DomainError):
    code = "refund_exceeds_charge"
    http_status = 409


class ReferenceReused(DomainError):
    code = "reference_reused"
    http_status = 409


class VoucherError(DomainError):
    pass


class VoucherUnknown(VoucherError):
    code = "voucher_unknown"


class VoucherRedeemed(VoucherError):
    code = "voucher_redeemed"


class VoucherExpired(VoucherError):
    code = "voucher_expired"


class DemoTopupDisabled(DomainError):
    code = "demo_topup_disabled"
    http_status = 403


def account_for(user: User) -> CreditAccount:
    """The user's account (created with the user; made here for users older than billing)."""
    account, _created = CreditAccount.objects.get_or_create(user=user)
    return account


def _locked_account(user: User) -> CreditAccount:
    locked = CreditAccount.objects.select_for_update()
    try:
        return locked.get(user=user)
    except CreditAccount.DoesNotExist:
        account_for(user)
        return locked.get(user=user)


def _positive_amount(amount: int, *, limit: int = MAX_AMOUNT) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= limit:
        raise InvalidInput(
            _("The amount must be a whole number of credits from 1 to %(limit)d.")
            % {"limit": limit}
        )
    return amount


def _required_memo(memo: str) -> str:
    memo = (memo or "").strip()
    if not memo:
        raise InvalidInput(_("Say why in the memo: it goes on the customer's statement."))
    return memo


def _same_movement(entry: LedgerEntry, *, account: CreditAccount, amount: int, kind: str) -> bool:
    return entry.account_id == account.pk and entry.amount == amount and entry.kind == kind


def _replay(reference: str, *, account: CreditAccount, amount: int, kind: str) -> LedgerEntry:
    entry = LedgerEntry.objects.get(reference=reference)
    if not _same_movement(entry, account=account, amount=amount, kind=kind):
        raise ReferenceReused(
            _("The reference %(reference)s already belongs to another movement.")
            % {"reference": reference}
        )
    return entry


def _check_refundable(charge: LedgerEntry, amount: int) -> None:
    refunded = charge.refunds.aggregate(total=Sum("amount"))["total"] or 0
    refundable = -charge.amount - refunded
    if amount > refundable:
        raise RefundExceedsCharge(
            _("Only %(refundable)d credits of this charge can still be refunded.")
            % {"refundable": refundable},
            refundable=refundable,
        )


def _post(
    *,
    user: User,
    amount: int,
    kind: str,
    reference: str,
    memo: str = "",
    actor: User | None = None,
    subject: models.Model | None = None,
    refund_of: LedgerEntry | None = None,
) -> LedgerEntry:
    """Write one movement under the account's row lock; the one writer of balances."""
    try:
        with transaction.atomic():
            account = _locked_account(user)
            if LedgerEntry.objects.filter(reference=reference).exists():
                return _replay(reference, account=account, amount=amount, kind=kind)
            if refund_of is not None:
                _check_refundable(refund_of, amount)
            balance_after = account.balance + amount
            if balance_after < 0:
                raise InsufficientCredits(balance=account.balance, required=-amount)
            CreditAccount.objects.filter(pk=account.pk).update(
                balance=balance_after, updated_at=timezone.now()
            )
            entry = LedgerEntry(
                account=account,
                amount=amount,
                kind=kind,
                balance_after=balance_after,
                memo=memo[:255],
                actor=actor,
                reference=reference,
                refund_of=refund_of,
            )
            if subject is not None:
                entry.subject = subject
            entry.save(force_insert=True)
            return entry
    except IntegrityError:
        # The same reference written at once for another account: the unique constraint
        # decided which came first.
        if not LedgerEntry.objects.filter(reference=reference).exists():
            raise
        return _replay(reference, account=account_for(user), amount=amount, kind=kind)


def grant(
    *, user: User, amount: int, memo: str, actor: User | None, reference: str | None = None
) -> LedgerEntry:
    """Give credits (staff or operators). Memo required; `actor` is the staff user."""
    return _post(
        user=user,
        amount=_positive_amount(amount),
        kind=EntryKind.GRANT,
        reference=reference or f"grant:{uuid.uuid4()}",
        memo=_required_memo(memo),
        actor=actor,
    )


def adjust(
    *, user: User, amount: int, memo: str, actor: User | None, reference: str | None = None
) -> LedgerEntry:
    """Correct a balance up or down (staff). Never below zero: raises InsufficientCredits."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise InvalidInput(_("The adjustment must be a whole number of credits, not zero."))
    _positive_amount(abs(amount))
    try:
        return _post(
            user=user,
            amount=amount,
            kind=EntryKind.ADJUSTMENT,
            reference=reference or f"adjustment:{uuid.uuid4()}",
            memo=_required_memo(memo),
            actor=actor,
        )
    except InsufficientCredits as error:
        balance = error.details["balance"]
        raise InsufficientCredits(
            balance=balance,
            required=-amount,
            message=_(
                "An adjustment of %(amount)d would take the balance (%(balance)d) below zero."
            )
            % {"amount": amount, "balance": balance},
        ) from error


def demo_topup(*, user: User, reference: str | None = None) -> LedgerEntry:
    """Add DEMO_TOPUP_CREDITS, only where settings.DEMO_TOPUP is on (the demo)."""
    if not settings.DEMO_TOPUP:
        raise DemoTopupDisabled(_("Top-ups are not available here."))
    return _post(
        user=user,
        amount=_positive_amount(settings.DEMO_TOPUP_CREDITS),
        kind=EntryKind.TOPUP,
        reference=reference or f"topup:{uuid.uuid4()}",
    )


def charge(
    *,
    user: User,
    amount: int,
    reference: str,
    memo: str = "",
    subject: models.Model | None = None,
) -> LedgerEntry:
    """Take `amount` credits for `subject`. Raises InsufficientCredits (with the shortfall)
    and writes nothing when the balance is short. One charge per reference."""
    return _post(
        user=user,
        amount=-_positive_amount(amount),
        kind=EntryKind.CHARGE,
        reference=reference,
        memo=memo,
        subject=subject,
    )


def refund(*, charge: LedgerEntry, amount: int, reference: str, memo: str = "") -> LedgerEntry:
    """Give back part or all of a charge; the refunds of one charge never exceed it."""
    if charge.kind != EntryKind.CHARGE:
        raise InvalidInput(_("Only a charge can be refunded."))
    return _post(
        user=charge.account.user,
        amount=_positive_amount(amount),
        kind=EntryKind.REFUND,
        reference=reference,
        memo=memo,
        subject=charge.subject,
        refund_of=charge,
    )


def normalize_voucher_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def redeem_voucher(*, user: User, code: str, now: datetime | None = None) -> LedgerEntry:
    """Credit the voucher's value to `user`, once per voucher, ever. Locks the voucher row,
    then the account row (the same order everywhere, so no deadlock)."""
    normalized = normalize_voucher_code(code)
    if len(normalized) != VOUCHER_LENGTH:
        raise VoucherUnknown(_("There is no voucher with this code. Check it and try again."))
    now = now or timezone.now()
    with transaction.atomic():
        voucher = (
            Voucher.objects.select_for_update(of=("self",))
            .select_related("batch")
            .filter(code=normalized)
            .first()
        )
        if voucher is None:
            raise VoucherUnknown(_("There is no voucher with this code. Check it and try again."))
        if voucher.redeemed_at is not None:
            raise VoucherRedeemed(_("This voucher has already been used."))
        if voucher.batch.expires_at is not None and voucher.batch.expires_at <= now:
            raise VoucherExpired(_("This voucher has expired."))
        voucher.redeemed_by = user
        voucher.redeemed_at = now
        voucher.save(update_fields=["redeemed_by", "redeemed_at"])
        return _post(
            user=user,
            amount=voucher.batch.credits,
            kind=EntryKind.VOUCHER,
            reference=f"voucher:{voucher.pk}",
            memo=voucher.display_code,
            subject=voucher,
        )


def _new_voucher_code() -> str:
    return "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(VOUCHER_LENGTH))


def voucher_batch_create(
    *,
    count: int,
    credits: int,
    expires_at: datetime | None,
    note: str = "",
    actor: User | None,
) -> VoucherBatch:
    """Generate `count` single-use codes worth `credits` each."""
    if not 1 <= count <= VOUCHER_BATCH_LIMIT:
        raise InvalidInput(
            _("A batch holds from 1 to %(limit)d codes.") % {"limit": VOUCHER_BATCH_LIMIT}
        )
    _positive_amount(credits, limit=MAX_VOUCHER_CREDITS)
    with transaction.atomic():
        batch = VoucherBatch.objects.create(
            count=count, credits=credits, expires_at=expires_at, note=note.strip(), created_by=actor
        )
        codes: set[str] = set()
        while len(codes) < count:
            candidates = {_new_voucher_code() for _ in range(count - len(codes))} - codes
            taken = set(Voucher.objects.filter(code__in=candidates).values_list("code", flat=True))
            codes |= candidates - taken
        Voucher.objects.bulk_create(Voucher(batch=batch, code=code) for code in sorted(codes))
    return batch


def low_balance_threshold_set(*, user: User, threshold: int | None) -> CreditAccount:
    """Set the balance under which `user` gets a low-balance e-mail; None turns it off.

    Locks the account row. Clears the "already e-mailed" mark when the balance is at or above
    the new threshold (or the e-mail is turned off), so the next crossing sends one again; a
    customer still under a threshold they were already e-mailed about is not e-mailed again.
    Writes no balance. Raises InvalidInput outside 0..MAX_AMOUNT."""
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int)
        or not 0 <= threshold <= MAX_AMOUNT
    ):
        raise InvalidInput(
            _("The threshold must be a whole number of credits from 0 to %(limit)d.")
            % {"limit": MAX_AMOUNT}
        )
    with transaction.atomic():
        account = _locked_account(user)
        account.low_balance_threshold = threshold
        if threshold is None or account.balance >= threshold:
            account.low_balance_notified_at = None
        account.save(
            update_fields=["low_balance_threshold", "low_balance_notified_at", "updated_at"]
        )
    return account


def _low_balance_due():
    return CreditAccount.objects.filter(
        low_balance_threshold__isnull=False,
        low_balance_notified_at__isnull=True,
        balance__lt=F("low_balance_threshold"),
        user__is_active=True,
    )


def _send_low_balance_email(account: CreditAccount) -> None:
    # No language is stored per user: the mail goes out in the site's default language.
    with translation.override(settings.LANGUAGE_CODE):
        values = {"balance": account.balance, "threshold": account.low_balance_threshold}
        subject = _("MFDP: low balance (credits left: %(balance)d)") % values
        body = (
            _(
                "Your MFDP balance (credits left: %(balance)d) is below the alert threshold "
                "you set (%(threshold)d).\n\n"
                "Add credits on the billing page before your next prediction. You can change or "
                "turn off this e-mail there too.\n"
            )
            % values
        )
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [account.user.email])


def notify_low_balances(*, now: datetime | None = None) -> int:
    """E-mail each customer whose balance is under their threshold, once per crossing, and
    return how many were sent.

    Each account is locked (select_for_update, skip_locked) and marked in the same
    transaction as its mail, so concurrent runs never mail one crossing twice (an account
    locked elsewhere waits for the next run). Clears the mark of accounts back at or above
    their threshold. A balance that dips, recovers and dips again between two runs counts as
    one crossing. Writes no balance."""
    now = now or timezone.now()
    # A row-level UPDATE re-checks its condition against the latest balance (PostgreSQL).
    CreditAccount.objects.filter(low_balance_notified_at__isnull=False).filter(
        Q(low_balance_threshold__isnull=True) | Q(balance__gte=F("low_balance_threshold"))
    ).update(low_balance_notified_at=None)
    sent = 0
    for account_id in list(_low_balance_due().values_list("pk", flat=True)):
        with transaction.atomic():
            account = (
                _low_balance_due()
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("user")
                .filter(pk=account_id)
                .first()
            )
            if account is None:
                continue  # locked by another run or a movement, or no longer due
            try:
                _send_low_balance_email(account)
            except Exception:
                # One failing address must not hold back the others; the next run retries.
                logger.exception("low-balance e-mail to account %s failed", account.pk)
                continue
            account.low_balance_notified_at = now
            account.save(update_fields=["low_balance_notified_at"])
        sent += 1
    return sent
