from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, re_path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from mfdp.errors import DomainError

from . import services
from .exports import table_download
from .forms import CreditMovementForm, VoucherBatchForm
from .models import CreditAccount, EntryKind, LedgerEntry, Voucher, VoucherBatch, VoucherState

RECENT_ENTRIES = 20


def _may_move_credits(user) -> bool:
    return user.is_active and user.is_staff and user.has_perm("billing.add_ledgerentry")


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "balance", "updated_at")
    search_fields = ("user__email", "user__name")
    list_select_related = ("user",)
    ordering = ("-updated_at",)
    readonly_fields = ("user", "balance", "created_at", "updated_at")
    change_form_template = "admin/billing/creditaccount/change_form.html"

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_staff and super().has_view_permission(request, obj)

    def get_urls(self):
        urls = [
            path(
                "<int:account_id>/move/",
                self.admin_site.admin_view(self.move_credits_view),
                name="billing_creditaccount_move",
            ),
        ]
        return urls + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        account = self.get_object(request, unquote(object_id))
        # A missing or malformed id is left to the admin, which answers it without a 500.
        if account is not None:
            entries = account.entries.select_related("actor")
            extra_context = {
                **(extra_context or {}),
                "recent_entries": entries[:RECENT_ENTRIES],
                "move_url": reverse("admin:billing_creditaccount_move", args=[account.pk]),
                "ledger_url": reverse("admin:billing_ledgerentry_changelist")
                + f"?account__id__exact={account.pk}",
                "can_move": _may_move_credits(request.user),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def move_credits_view(self, request, account_id: int):
        """Grant or adjust through the billing service, with the staff user as the actor."""
        if not _may_move_credits(request.user):
            raise PermissionDenied
        account = get_object_or_404(CreditAccount.objects.select_related("user"), pk=account_id)
        form = CreditMovementForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            move = (
                services.grant if form.cleaned_data["kind"] == EntryKind.GRANT else services.adjust
            )
            try:
                entry = move(
                    user=account.user,
                    amount=form.cleaned_data["amount"],
                    memo=form.cleaned_data["memo"],
                    actor=request.user,
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                self.log_change(
                    request, account, f"{entry.get_kind_display()} {entry.amount:+d}: {entry.memo}"
                )
                self.message_user(
                    request,
                    gettext("%(amount)+d credits for %(user)s; the balance is now %(balance)d.")
                    % {
                        "amount": entry.amount,
                        "user": account.user,
                        "balance": entry.balance_after,
                    },
                    messages.SUCCESS,
                )
                return redirect("admin:billing_creditaccount_change", account.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": account,
            "title": gettext("Move credits: %(user)s") % {"user": account.user},
            "form": form,
            "account": account,
        }
        return TemplateResponse(request, "admin/billing/creditaccount/move.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "account", "kind", "amount", "balance_after", "memo", "actor")
    list_filter = ("kind", "created_at")
    search_fields = ("account__user__email", "reference", "memo")
    list_select_related = ("account__user", "actor")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in LedgerEntry._meta.fields]


class VoucherStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return VoucherState.choices

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == VoucherState.REDEEMED:
            return queryset.filter(redeemed_at__isnull=False)
        if self.value() == VoucherState.EXPIRED:
            return queryset.filter(redeemed_at__isnull=True, batch__expires_at__lte=now)
        if self.value() == VoucherState.ACTIVE:
            return queryset.filter(redeemed_at__isnull=True).exclude(batch__expires_at__lte=now)
        return queryset


@admin.register(VoucherBatch)
class VoucherBatchAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "credits",
        "count",
        "redeemed",
        "expires_at",
        "created_by",
        "downloads",
    )
    list_select_related = ("created_by",)
    search_fields = ("note",)
    readonly_fields = (
        "credits",
        "count",
        "expires_at",
        "note",
        "created_by",
        "created_at",
        "downloads",
    )

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("redeemed"))
    def redeemed(self, batch: VoucherBatch) -> int:
        return batch.vouchers.filter(redeemed_at__isnull=False).count()

    @admin.display(description=_("codes"))
    def downloads(self, batch: VoucherBatch) -> str:
        # The codes are listed on the vouchers' own changelist, paginated: a batch of
        # thousands rendered inline here took half a minute.
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">CSV</a> · <a href="{}">xlsx</a>',
            reverse("admin:billing_voucher_changelist") + f"?batch__id__exact={batch.pk}",
            capfirst(Voucher._meta.verbose_name_plural),
            reverse("admin:billing_voucherbatch_codes", args=[batch.pk, "csv"]),
            reverse("admin:billing_voucherbatch_codes", args=[batch.pk, "xlsx"]),
        )

    def get_urls(self):
        urls = [
            re_path(
                r"^(?P<batch_id>\d+)/codes\.(?P<fmt>csv|xlsx)$",
                self.admin_site.admin_view(self.codes_view),
                name="billing_voucherbatch_codes",
            ),
        ]
        return urls + super().get_urls()

    def codes_view(self, request, batch_id: int, fmt: str):
        if not self.has_view_permission(request):
            raise PermissionDenied
        batch = get_object_or_404(VoucherBatch, pk=batch_id)
        vouchers = batch.vouchers.select_related("redeemed_by")
        now = timezone.now()
        rows = (
            (
                voucher.display_code,
                batch.credits,
                batch.expires_at,
                str(VoucherState(voucher.state(now)).label),
                voucher.redeemed_by.email if voucher.redeemed_by else None,
            )
            for voucher in vouchers
        )
        headers = [
            gettext("code"),
            gettext("credits"),
            gettext("expires"),
            gettext("state"),
            gettext("redeemed by"),
        ]
        return table_download(filename=f"vouchers-{batch.pk}", fmt=fmt, headers=headers, rows=rows)

    def add_view(self, request, form_url="", extra_context=None):
        """Generating a batch goes through the billing service, never a plain model save."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = VoucherBatchForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                batch = services.voucher_batch_create(
                    count=form.cleaned_data["count"],
                    credits=form.cleaned_data["credits"],
                    expires_at=form.expires_at(),
                    note=form.cleaned_data["note"],
                    actor=request.user,
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                self.log_addition(request, batch, str(batch))
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d code generated. Download it below.",
                        "%(count)d codes generated. Download them below.",
                        batch.count,
                    )
                    % {"count": batch.count},
                    messages.SUCCESS,
                )
                return redirect("admin:billing_voucherbatch_change", batch.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Generate vouchers"),
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/voucherbatch/generate.html", context)


@admin.register(Voucher)
class VoucherAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("display_code", "batch", "state_label", "redeemed_by", "redeemed_at")
    list_filter = (VoucherStateFilter, "batch")
    search_fields = ("code", "redeemed_by__email", "batch__note")
    list_select_related = ("batch", "redeemed_by")

    @admin.display(description=_("code"), ordering="code")
    def display_code(self, voucher: Voucher) -> str:
        return voucher.display_code

    @admin.display(description=_("state"))
    def state_label(self, voucher: Voucher) -> str:
        return VoucherState(voucher.state()).label

    def get_search_results(self, request, queryset, search_term):
        # Staff paste codes with dashes or in lower case.
        normalized = services.normalize_voucher_code(search_term)
        # `queryset` arrives with the list filters applied; an exact code match keeps them.
        filtered = queryset
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        if normalized and len(normalized) == services.VOUCHER_LENGTH:
            queryset |= filtered.filter(code=normalized)
        return queryset, duplicates
