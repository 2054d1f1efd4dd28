"""Datasets, trainings and comparisons as integrators see them."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from predictions.ml.algorithms import Algorithm

from .models import Dataset, TrainingJob


class DatasetSerializer(serializers.ModelSerializer):
    file_name = serializers.CharField(source="upload_name")
    confirmed = serializers.BooleanField(source="is_confirmed")
    exploration = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "file_name",
            "size_bytes",
            "file_sha256",
            "rows",
            "target",
            "schema",
            "confirmed",
            "confirmed_at",
            "exploration",
            "created_at",
        ]

    @extend_schema_field(serializers.DictField())
    def get_exploration(self, dataset: Dataset) -> dict:
        return {
            "status": dataset.profile_status,
            "progress": dataset.profile_progress,
            "error": dataset.profile_error or None,
            "profile": dataset.profile if self.context.get("with_profile") else None,
        }


class DatasetUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The training table: an Excel (.xlsx) or CSV file.")
    target = serializers.CharField(max_length=255, help_text="The column to predict.")
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    confirm = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: accept the suggested schema at once and compute the exploration.",
    )


TYPE_CHOICES = ["number", "integer", "category", "text", "boolean"]


class DatasetReviseSerializer(serializers.Serializer):
    types = serializers.DictField(
        child=serializers.ChoiceField(choices=TYPE_CHOICES),
        required=False,
        help_text="Column -> type, for the columns whose suggested type is wrong.",
    )
    ignored = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Columns to leave out."
    )
    task = serializers.ChoiceField(choices=["regression", "classification"], required=False)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)


class AlgorithmSerializer(serializers.Serializer):
    def to_representation(self, algorithm: Algorithm) -> dict:
        return algorithm.to_dict(self.context.get("language", "en"))


class TrainingRequestSerializer(serializers.Serializer):
    dataset = serializers.UUIDField(help_text="A confirmed dataset of yours.")
    algorithm = serializers.CharField(help_text="A name from /api/v1/algorithms/.")
    params = serializers.DictField(
        required=False, default=dict, help_text="Hyperparameters; omitted ones take defaults."
    )
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    model = serializers.SlugField(
        required=False, help_text="Retrain: one of your models, which gets the new version."
    )


class TrainingJobSerializer(serializers.ModelSerializer):
    dataset = serializers.UUIDField(source="dataset_id", allow_null=True)
    cost = serializers.IntegerField(source="cost_charged", help_text="Credits charged.")
    refund = serializers.IntegerField(source="credits_refunded", help_text="Credits refunded.")
    progress = serializers.IntegerField(source="progress_percent")
    error = serializers.SerializerMethodField()
    model = serializers.SerializerMethodField()

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "dataset",
            "dataset_name",
            "dataset_sha256",
            "algorithm",
            "params",
            "seed",
            "status",
            "stage",
            "progress",
            "rows",
            "cost",
            "refund",
            "model",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_error(self, job: TrainingJob) -> dict | None:
        if not job.error_code:
            return None
        return {"code": job.error_code, "message": job.error}

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_model(self, job: TrainingJob) -> dict | None:
        """The version produced: its model's slug (what /api/v1/predictions/ takes)."""
        if job.version is None:
            return None
        version = job.version
        url = reverse("api-model", args=[version.model.slug])
        request = self.context.get("request")
        return {
            "slug": version.model.slug,
            "version": version.number,
            "version_id": version.pk,
            "metrics": version.metrics,
            "url": request.build_absolute_uri(url) if request else url,
        }


class CompareRequestSerializer(serializers.Serializer):
    versions = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=2,
        max_length=4,
        help_text="2-4 version ids (from a training's model.version_id or a model's versions).",
    )
