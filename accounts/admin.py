from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import CreditAccount
from billing.selectors import statement_entries
from predictions.selectors import jobs_of

from . import services
from .models import ApiToken, User

RECENT_ROWS = 10


def _when(moment) -> str:
    return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    ordering = ("-date_joined",)
    list_display = (
        "email",
        "name",
        "balance_column",
        "is_staff",
        "is_active",
        "date_joined",
        "last_login",
    )
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "name")
    readonly_fields = (
        "date_joined",
        "last_login",
        "balance",
        "move_credits",
        "recent_ledger_entries",
        "recent_jobs",
    )
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("name",)}),
        (_("Credits"), {"fields": ("balance", "move_credits", "recent_ledger_entries")}),
        (_("Prediction jobs"), {"fields": ("recent_jobs",)}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )
    inlines = [ApiTokenInline]

    def get_inlines(self, request, obj):
        # A user being added has no tokens yet.
        return self.inlines if obj else []

    def has_delete_permission(self, request, obj=None) -> bool:
        # A user's credit account and ledger are protected records: deactivate instead.
        return False

    def get_queryset(self, request):
        # One LEFT JOIN for the balance column, sortable, instead of a query per row.
        return super().get_queryset(request).annotate(credit_balance=F("credit_account__balance"))

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or request.user.has_perm("billing.add_ledgerentry"):
            return fieldsets
        # Credits are moved only by staff allowed to write the ledger (billing enforces it
        # again in its form).
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "move_credits"]})
            for name, options in fieldsets
        ]

    @admin.display(description=_("balance"), ordering="credit_balance")
    def balance_column(self, user: User) -> int | None:
        return user.credit_balance

    @staticmethod
    def _account(user: User) -> CreditAccount | None:
        try:
            return user.credit_account
        except CreditAccount.DoesNotExist:
            return None

    @admin.display(description=_("balance"))
    def balance(self, user: User) -> str:
        account = self._account(user)
        if account is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:billing_creditaccount_change", args=[account.pk]),
            account.balance,
        )

    @admin.display(description=_("grant or adjust"))
    def move_credits(self, user: User) -> str:
        # The one grant/adjust form is billing's: memo required, the staff user recorded.
        account = self._account(user)
        if account is None:
            return "—"
        return format_html(
            '<a class="button" href="{}">{}</a>',
            reverse("admin:billing_creditaccount_move", args=[account.pk]),
            gettext("Grant or adjust credits"),
        )

    @admin.display(description=_("recent ledger entries"))
    def recent_ledger_entries(self, user: User) -> str:
        account = self._account(user)
        entries = list(statement_entries(user=user)[:RECENT_ROWS])
        if account is None or not entries:
            return gettext("No movements yet.")
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>",
            (
                (
                    reverse("admin:billing_ledgerentry_change", args=[entry.pk]),
                    _when(entry.created_at),
                    entry.get_kind_display(),
                    f"{entry.amount:+d}",
                    entry.balance_after,
                    entry.memo,
                    entry.actor or "",
                )
                for entry in entries
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "<th>{}</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">{}</a></p>',
            gettext("When"),
            gettext("Kind"),
            gettext("Amount"),
            gettext("Balance after"),
            gettext("Memo"),
            gettext("Staff"),
            rows,
            reverse("admin:billing_ledgerentry_changelist") + f"?account__id__exact={account.pk}",
            gettext("Whole ledger"),
        )

    @admin.display(description=_("recent jobs"))
    def recent_jobs(self, user: User) -> str:
        jobs = list(jobs_of(user=user).order_by("-created_at")[:RECENT_ROWS])
        if not jobs:
            return gettext("No jobs yet.")
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>",
            (
                (
                    reverse("admin:predictions_predictionjob_change", args=[job.pk]),
                    str(job.pk)[:8],
                    _when(job.created_at),
                    job.version,
                    job.get_status_display(),
                    job.rows_total,
                    job.cost_net,
                )
                for job in jobs
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "<th>{}</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">{}</a></p>',
            gettext("Job"),
            gettext("When"),
            gettext("Model"),
            gettext("Status"),
            gettext("Rows"),
            gettext("Credits"),
            rows,
            reverse("admin:predictions_predictionjob_changelist") + f"?owner__id__exact={user.pk}",
            gettext("All jobs"),
        )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "prefix", "user__email")
    list_select_related = ("user",)
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    fields = readonly_fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        # A token's key is shown once to its owner; staff never see one, so they cannot make one.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Revoked tokens stay for the record; staff revoke, never delete.
        return False

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            services.api_token_revoke(token=token)
            self.log_change(request, token, "revoked")
        self.message_user(request, _("The selected tokens are revoked."), messages.SUCCESS)
