import json
import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from mfdp.errors import DomainError

from . import downloads, services
from .models import FINISHED_STATUSES, MLModel, ModelVersion, PredictionJob


class VersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ("number", "price_per_row", "is_active", "sha256", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MLModel)
class MLModelAdmin(admin.ModelAdmin):
    list_display = ("slug", "name_en", "task", "is_published", "default_version", "owner")
    list_filter = ("task", "is_published")
    search_fields = ("slug", "name_en", "name_ru")
    list_select_related = ("default_version", "owner")
    fields = (
        "slug",
        "name_en",
        "name_ru",
        "description_en",
        "description_ru",
        "task",
        "default_version",
        "is_published",
        "owner",
    )
    readonly_fields = ("is_published", "owner")
    inlines = [VersionInline]
    actions = ["publish", "unpublish"]

    def get_readonly_fields(self, request, obj=None):
        # The task of a model with versions is what its files predict: fixed.
        return (*self.readonly_fields, "task", "slug") if obj else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "default_version":
            model_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = ModelVersion.objects.filter(model_id=model_id, is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _set_published(self, request, queryset, published: bool) -> None:
        for model in queryset.select_related("default_version"):
            try:
                services.model_publish(model=model, published=published)
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.log_change(request, model, "published" if published else "unpublished")

    @admin.action(description=_("Publish in the catalog"))
    def publish(self, request, queryset):
        self._set_published(request, queryset, True)

    @admin.action(description=_("Hide from the catalog"))
    def unpublish(self, request, queryset):
        self._set_published(request, queryset, False)


class JSONText(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 6, "cols": 80, "class": "vLargeTextField"})

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                _("Not valid JSON: %(error)s"), params={"error": error}
            ) from error


class VersionUploadForm(forms.Form):
    model = forms.ModelChoiceField(queryset=MLModel.objects.all(), label=_("Model"))
    artifact = forms.FileField(
        label=_("Model file (skops)"),
        help_text=_("Saved with skops.io.dump. Pickle and joblib files are refused."),
    )
    schema = JSONText(
        label=_("Input schema (JSON)"),
        help_text=_('{"columns": [{"name": ..., "type": "number", "required": true, ...}]}'),
    )
    target = forms.CharField(label=_("Target"), max_length=120)
    classes = JSONText(
        label=_("Classes (JSON list)"),
        required=False,
        help_text=_("Classifiers only, in predict_proba order."),
    )
    metrics = JSONText(label=_("Metrics (JSON)"), required=False)
    price_per_row = forms.IntegerField(label=_("Price per row (credits)"), min_value=1)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "price_per_row", "is_active", "created_at")
    list_filter = ("is_active", "model")
    list_select_related = ("model",)
    fields = (
        "model",
        "number",
        "price_per_row",
        "is_active",
        "sha256",
        "target",
        "classes",
        "schema",
        "metrics",
        "training",
        "artifact",
        "created_at",
    )
    readonly_fields = (
        "model",
        "number",
        "sha256",
        "target",
        "classes",
        "schema",
        "metrics",
        "training",
        "artifact",
        "created_at",
    )

    def has_delete_permission(self, request, obj=None) -> bool:
        # Jobs and ledger entries refer to versions: deactivate instead.
        return False

    def save_model(self, request, obj, form, change):
        services.version_update(
            version=obj, price_per_row=obj.price_per_row, is_active=obj.is_active
        )

    def add_view(self, request, form_url="", extra_context=None):
        """A new version enters only through the service that loads and tries the file."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = VersionUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                version = services.version_create(
                    model=data["model"],
                    artifact=data["artifact"],
                    schema=data["schema"],
                    target=data["target"],
                    classes=data["classes"] or [],
                    metrics=data["metrics"] or {},
                    price_per_row=data["price_per_row"],
                    training={"source": "uploaded in the admin", "by": request.user.email},
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                self.log_addition(request, version, str(version))
                self.message_user(
                    request,
                    gettext("%(version)s is registered.") % {"version": version},
                    messages.SUCCESS,
                )
                return redirect("admin:predictions_modelversion_change", version.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Upload a model version"),
            "form": form,
            "has_file_field": True,
        }
        return TemplateResponse(request, "admin/predictions/modelversion/upload.html", context)


@admin.register(PredictionJob)
class PredictionJobAdmin(admin.ModelAdmin):
    """Jobs, read-only: their money moves only through the actions, each one a service."""

    list_display = (
        "short_id",
        "owner",
        "model_slug",
        "kind",
        "status",
        "rows_total",
        "rows_failed",
        "cost_charged",
        "credits_refunded",
        "created_at",
    )
    list_filter = ("status", "kind", ("version__model", admin.RelatedOnlyFieldListFilter))
    date_hierarchy = "created_at"
    search_help_text = _("A job's id, or its owner's e-mail.")
    search_fields = ("owner__email",)
    list_select_related = ("owner", "version__model")
    readonly_fields = ("files",)
    actions = ["cancel_jobs", "stop_and_refund", "rerun_free"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_fields(self, request, obj=None):
        return [field.name for field in PredictionJob._meta.fields] + ["files"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def get_search_results(self, request, queryset, search_term):
        try:
            return queryset.filter(pk=uuid.UUID(search_term.strip())), False
        except ValueError:
            return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("job"))
    def short_id(self, job: PredictionJob) -> str:
        return str(job.pk)[:8]

    @admin.display(description=_("model"), ordering="version__model__slug")
    def model_slug(self, job: PredictionJob) -> str:
        return f"{job.version.model.slug} v{job.version.number}"

    @admin.display(description=_("files"))
    def files(self, job: PredictionJob) -> str:
        links = [
            format_html(
                '<a href="{}">{}</a>',
                reverse("admin:predictions_predictionjob_file", args=[job.pk, which]),
                label,
            )
            for which, label, stored in (
                ("upload", gettext("uploaded file"), job.upload),
                ("result", gettext("result file"), job.result),
            )
            if stored and not job.data_purged_at
        ]
        return format_html_join(" · ", "{}", ((link,) for link in links)) or "—"

    def get_urls(self):
        return [
            path(
                "<uuid:job_id>/file/<str:which>/",
                self.admin_site.admin_view(self.file_view),
                name="predictions_predictionjob_file",
            ),
            *super().get_urls(),
        ]

    def file_view(self, request, job_id, which: str):
        """Staff download a job's upload or result (a short signed link on S3)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(PredictionJob.objects.select_related("version__model"), pk=job_id)
        stored = {"upload": job.upload, "result": job.result}.get(which)
        if not stored or job.data_purged_at:
            raise Http404
        name = downloads.result_filename(job) if which == "result" else job.upload_name
        return downloads.stored_file_response(stored, filename=name or "upload", content_type=None)

    def _each(self, request, queryset, service, done: str) -> None:
        for job in queryset:
            try:
                service(job=job)
            except DomainError as error:
                self.message_user(request, f"{job.pk}: {error.message}", messages.ERROR)
            else:
                self.log_change(request, job, done)

    @admin.action(description=_("Cancel (refund undelivered rows)"))
    def cancel_jobs(self, request, queryset):
        self._each(
            request, queryset.exclude(status__in=FINISHED_STATUSES), services.cancel, "canceled"
        )

    @admin.action(description=_("Stop as failed and refund every row"))
    def stop_and_refund(self, request, queryset):
        self._each(
            request,
            queryset.exclude(status__in=FINISHED_STATUSES),
            services.stop_and_refund,
            "stopped and refunded",
        )

    @admin.action(description=_("Run a failed job again, free of charge"))
    def rerun_free(self, request, queryset):
        self._each(request, queryset, services.rerun_free, "run again free of charge")
