from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .models import WebhookAttempt, WebhookEvent


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("number", "started_at", "status_code", "duration_ms", "error", "response_excerpt")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DeliveryFilter(admin.SimpleListFilter):
    title = _("delivery")
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return [
            ("delivered", _("delivered")),
            ("pending", _("pending")),
            ("given_up", _("given up")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "delivered":
            return queryset.filter(delivered_at__isnull=False)
        if self.value() == "pending":
            return queryset.filter(delivered_at__isnull=True, given_up_at__isnull=True)
        if self.value() == "given_up":
            return queryset.filter(given_up_at__isnull=False)
        return queryset


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    """Events and every attempt, read-only; staff can only ask for a resend."""

    list_display = (
        "id",
        "type",
        "owner",
        "url",
        "created_at",
        "attempts",
        "delivered_at",
        "given_up_at",
        "next_attempt_at",
    )
    list_filter = ("type", DeliveryFilter)
    search_fields = ("owner__email", "url")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    fields = (
        "id",
        "type",
        "owner",
        "job",
        "url",
        "created_at",
        "attempts",
        "delivered_at",
        "given_up_at",
        "next_attempt_at",
        "payload",
    )
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["resend"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # An event page is read-only; the change permission still gates the resend action,
        # which Django checks without an object.
        return obj is None and super().has_change_permission(request)

    @admin.action(description=_("Resend the selected events"), permissions=["change"])
    def resend(self, request, queryset):
        count = 0
        for event in queryset:
            services.resend(event=event)
            self.log_change(request, event, "resent")
            count += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d event will be sent again.",
                "%(count)d events will be sent again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
