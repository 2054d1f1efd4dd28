"""The prediction job as integrators see it: in API answers and in webhook events alike."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from .models import PredictionJob


class JobErrorSerializer(serializers.Serializer):
    code = serializers.CharField(source="error_code")
    message = serializers.CharField(source="error")


class PredictionJobSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="version.model.slug")
    version = serializers.IntegerField(source="version.number")
    progress = serializers.SerializerMethodField()
    cost = serializers.IntegerField(source="cost_charged", help_text="Credits charged.")
    refund = serializers.IntegerField(source="credits_refunded", help_text="Credits refunded.")
    output = serializers.JSONField(
        help_text="One row: the prediction (and class probabilities). Rows sent inline: one "
        "object per row, with `error` for a row not predicted. A file: null (see result_url)."
    )
    error = serializers.SerializerMethodField()
    file_name = serializers.CharField(source="upload_name")
    webhook = serializers.CharField(source="webhook_url")
    result_url = serializers.SerializerMethodField()
    files_removed_at = serializers.DateTimeField(source="data_purged_at")

    class Meta:
        model = PredictionJob
        fields = [
            "id",
            "model",
            "version",
            "kind",
            "status",
            "progress",
            "price_per_row",
            "cost",
            "refund",
            "output",
            "error",
            "file_name",
            "result_url",
            "webhook",
            "created_at",
            "started_at",
            "finished_at",
            "files_removed_at",
        ]

    @extend_schema_field(
        inline_serializer(
            "JobProgress",
            {
                "rows_total": serializers.IntegerField(),
                "rows_done": serializers.IntegerField(),
                "rows_failed": serializers.IntegerField(),
            },
        )
    )
    def get_progress(self, job: PredictionJob) -> dict:
        return {
            "rows_total": job.rows_total,
            "rows_done": job.rows_done,
            "rows_failed": job.rows_failed,
        }

    @extend_schema_field(JobErrorSerializer(allow_null=True))
    def get_error(self, job: PredictionJob) -> dict | None:
        if not job.error_code:
            return None
        return {"code": job.error_code, "message": job.error}

    def get_result_url(self, job: PredictionJob) -> str | None:
        if not job.result or job.data_purged_at:
            return None
        url = reverse("api-prediction-result", args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url
