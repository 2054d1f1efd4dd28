from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CreditAccount(models.Model):
    """A customer's credits. `balance` caches the sum of the account's ledger entries and is
    written only by billing.services, under a row lock."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="credit_account",
        verbose_name=_("user"),
    )
    balance = models.BigIntegerField(_("balance"), default=0, editable=False)
    # None: no low-balance e-mail. Set by the customer on the billing page.
    low_balance_threshold = models.PositiveBigIntegerField(
        _("low-balance threshold"), null=True, blank=True
    )
    # When the e-mail for the current crossing went out; cleared once the balance is back at
    # or above the threshold, so the next crossing sends one again.
    low_balance_notified_at = models.DateTimeField(
        _("low-balance e-mail sent"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("credit account")
        verbose_name_plural = _("credit accounts")
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="billing_account_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.balance})"


class EntryKind(models.TextChoices):
    GRANT = "grant", _("grant")
    VOUCHER = "voucher", _("voucher")
    TOPUP = "topup", _("top-up")
    CHARGE = "charge", _("charge")
    REFUND = "refund", _("refund")
    ADJUSTMENT = "adjustment", _("adjustment")


class LedgerEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Ledger entries are append-only.")

    def delete(self):
        raise TypeError("Ledger entries are append-only.")


class LedgerEntry(models.Model):
    """One movement of credits. Append-only: never updated, never deleted (the database
    refuses updates too). `reference` makes each movement idempotent."""

    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="entries", verbose_name=_("account")
    )
    amount = models.BigIntegerField(_("amount"))
    kind = models.CharField(_("kind"), max_length=16, choices=EntryKind.choices)
    balance_after = models.BigIntegerField(_("balance after"))
    memo = models.CharField(_("memo"), max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("staff actor"),
    )
    reference = models.CharField(_("reference"), max_length=120, unique=True)
    refund_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        verbose_name=_("refund of"),
    )
    # What the movement paid for (a prediction job, a training...), linked without billing
    # having to know those apps.
    subject_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    subject_id = models.CharField(max_length=64, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["account", "-created_at", "-id"], name="billing_entry_account_idx"
            ),
            models.Index(fields=["subject_type", "subject_id"], name="billing_entry_subject_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="billing_entry_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="billing_entry_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind=EntryKind.CHARGE, amount__lt=0)
                    | Q(
                        kind__in=[
                            EntryKind.GRANT,
                            EntryKind.VOUCHER,
                            EntryKind.TOPUP,
                            EntryKind.REFUND,
                        ],
                        amount__gt=0,
                    )
                    | Q(kind=EntryKind.ADJUSTMENT)
                ),
                name="billing_entry_sign_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(refund_of__isnull=True) | Q(kind=EntryKind.REFUND),
                name="billing_entry_only_refunds_refer_to_a_charge",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d} → {self.balance_after}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Ledger entries are append-only.")


class VoucherBatch(models.Model):
    """Codes that staff generated together, with the same value and expiry."""

    credits = models.PositiveIntegerField(_("credits per code"))
    count = models.PositiveIntegerField(_("number of codes"))
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("voucher batch")
        verbose_name_plural = _("voucher batches")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return _("%(count)d × %(credits)d credits (%(note)s)") % {
            "count": self.count,
            "credits": self.credits,
            "note": self.note or self.created_at.date(),
        }


class VoucherState(models.TextChoices):
    ACTIVE = "active", _("active")
    REDEEMED = "redeemed", _("redeemed")
    EXPIRED = "expired", _("expired")


class Voucher(models.Model):
    """A single-use code worth `batch.credits`. Codes are stored normalised (upper case, no
    separators) so that redemption is case-insensitive."""

    batch = models.ForeignKey(
        VoucherBatch, on_delete=models.PROTECT, related_name="vouchers", verbose_name=_("batch")
    )
    code = models.CharField(_("code"), max_length=32, unique=True)
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("redeemed by"),
    )
    redeemed_at = models.DateTimeField(_("redeemed"), null=True, blank=True)

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        ordering = ["batch", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(redeemed_by__isnull=True, redeemed_at__isnull=True)
                | Q(redeemed_by__isnull=False, redeemed_at__isnull=False),
                name="billing_voucher_redeemed_by_and_at_together",
            ),
        ]

    def __str__(self) -> str:
        return self.display_code

    @property
    def display_code(self) -> str:
        return "-".join(self.code[i : i + 4] for i in range(0, len(self.code), 4))

    def state(self, now=None) -> str:
        if self.redeemed_at is not None:
            return VoucherState.REDEEMED
        expires_at = self.batch.expires_at
        if expires_at is not None and expires_at <= (now or timezone.now()):
            return VoucherState.EXPIRED
        return VoucherState.ACTIVE
