from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import EntryKind
from .services import MAX_AMOUNT, VOUCHER_BATCH_LIMIT


class VoucherRedeemForm(forms.Form):
    code = forms.CharField(
        label=_("Voucher code"),
        max_length=64,
        widget=forms.TextInput(
            attrs={
                "placeholder": "ABCD-EFGH-JKLM-NPQR",
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
    )


class LowBalanceThresholdForm(forms.Form):
    threshold = forms.IntegerField(
        label=_("E-mail me when my balance falls below"),
        min_value=0,
        max_value=MAX_AMOUNT,
        required=False,
        help_text=_("In credits. Leave empty for no e-mail."),
    )


class CreditMovementForm(forms.Form):
    """Staff: give credits, or correct a balance up or down."""

    KIND_CHOICES = [
        (EntryKind.GRANT, _("Grant (add credits)")),
        (EntryKind.ADJUSTMENT, _("Adjustment (+ or −)")),
    ]

    kind = forms.ChoiceField(label=_("Kind"), choices=KIND_CHOICES, initial=EntryKind.GRANT)
    amount = forms.IntegerField(
        label=_("Credits"),
        help_text=_("A grant is above zero; an adjustment may be negative."),
        min_value=-(10**12),
        max_value=10**12,
    )
    memo = forms.CharField(
        label=_("Memo"),
        max_length=255,
        help_text=_("Why: the customer sees it on the statement."),
    )

    def clean(self):
        cleaned = super().clean()
        amount, kind = cleaned.get("amount"), cleaned.get("kind")
        if amount is not None and kind == EntryKind.GRANT and amount <= 0:
            self.add_error("amount", _("A grant adds credits: enter a number above zero."))
        if amount == 0:
            self.add_error("amount", _("Enter a number other than zero."))
        return cleaned


class VoucherBatchForm(forms.Form):
    count = forms.IntegerField(
        label=_("Number of codes"), min_value=1, max_value=VOUCHER_BATCH_LIMIT
    )
    credits = forms.IntegerField(label=_("Credits per code"), min_value=1, max_value=10**9)
    expires_in_days = forms.IntegerField(
        label=_("Expires in (days)"),
        min_value=1,
        max_value=3650,
        required=False,
        help_text=_("Leave empty for codes that never expire."),
    )
    note = forms.CharField(
        label=_("Note"), max_length=255, required=False, help_text=_("For whom or what campaign.")
    )

    def expires_at(self):
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None
