import json
import threading
from pathlib import Path

from django.conf import settings
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView, ListAPIView, RetrieveAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from mfdp import idempotency
from mfdp.api import error_response
from mfdp.errors import DomainError
from training import selectors as training_selectors
from training import services as training_services
from webhooks.services import clean_webhook_url

from . import downloads, selectors, services
from .downloads import XLSX
from .filters import JobFilter
from .ml.schema import normalise_header
from .models import MLModel, PredictionJob
from .serializers import PredictionJobSerializer


def _language() -> str:
    return "ru" if (get_language() or "").startswith("ru") else "en"


class CatalogModelSerializer(serializers.ModelSerializer):
    name = serializers.CharField()
    description = serializers.CharField()
    version = serializers.IntegerField(source="default_version.number")
    price_per_row = serializers.IntegerField(source="default_version.price_per_row")
    headline_metric = serializers.JSONField(source="default_version.headline")

    class Meta:
        model = MLModel
        fields = [
            "slug",
            "name",
            "description",
            "task",
            "version",
            "price_per_row",
            "headline_metric",
        ]


class CatalogModelDetailSerializer(CatalogModelSerializer):
    target = serializers.CharField(source="default_version.target")
    classes = serializers.JSONField(source="default_version.classes")
    metrics = serializers.JSONField(source="default_version.metrics")
    schema = serializers.SerializerMethodField()

    class Meta(CatalogModelSerializer.Meta):
        fields = [*CatalogModelSerializer.Meta.fields, "target", "classes", "metrics", "schema"]

    def get_schema(self, model: MLModel) -> list[dict]:
        """The input columns, described in the request's language."""
        language = _language()
        columns = []
        for column in model.default_version.input_schema.columns:
            data = column.to_dict()
            data["description"] = column.describe(language)
            columns.append(data)
        return columns


class ModelListApi(ListAPIView):
    """The catalog: published models with their price per row and headline metric; with
    `?mine=true`, the caller's own models instead. Names and descriptions follow
    Accept-Language (en, ru)."""

    serializer_class = CatalogModelSerializer

    def get_queryset(self):
        if self.request.query_params.get("mine", "").lower() in {"true", "1", "yes"}:
            return selectors.own_models(user=self.request.user)
        return selectors.catalog()

    @extend_schema(
        summary="The catalog, or your own models",
        parameters=[
            OpenApiParameter(
                "mine", bool, description="true: only the models you trained (private)."
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ModelDetailApi(RetrieveAPIView):
    serializer_class = CatalogModelDetailSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return selectors.usable_models(user=self.request.user)

    @extend_schema(summary="One model: schema, price, metrics")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Delete one of your models",
        description="Soft delete: it can no longer predict and leaves your lists; its jobs "
        "and ledger entries stay readable; its files are removed after the retention period. "
        "Catalog models and other users' models answer 404.",
        responses={204: None, 404: error_response("not_found")},
    )
    def delete(self, request, slug: str):
        training_services.model_delete(
            model=training_selectors.owned_model(user=request.user, slug=slug)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# Prediction jobs


class PredictionRequestSerializer(serializers.Serializer):
    """What to predict: exactly one of `input` (one row), `inputs` (a few rows) or `file`."""

    model = serializers.SlugField(help_text="The model's slug, from /api/v1/models/.")
    input = serializers.DictField(required=False, help_text="One row: column -> value.")
    inputs = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="A few rows (API_INLINE_ROWS_MAX at most, 100 by default).",
    )
    file = serializers.FileField(required=False, help_text="An Excel (.xlsx) or CSV file.")
    explain = serializers.BooleanField(
        required=False,
        default=False,
        help_text="With `input` (one row): also answer each feature's contribution and the "
        "base value they add up from. Models trained by customers can; no extra cost.",
    )

    def validate_model(self, slug: str) -> MLModel:
        user = self.context["request"].user
        model = selectors.usable_models(user=user).filter(slug=slug).first()
        if model is None:
            raise serializers.ValidationError(_("No model you can use has this slug."))
        return model

    def validate(self, attrs: dict) -> dict:
        given = [name for name in ("input", "inputs", "file") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                _("Send exactly one of input (one row), inputs (a few rows) or file.")
            )
        if attrs.get("explain") and "input" not in attrs:
            raise serializers.ValidationError({"explain": _("Only a one-row input is explained.")})
        schema = attrs["model"].default_version.input_schema
        rows = [attrs["input"]] if "input" in attrs else attrs.get("inputs", [])
        known = {normalise_header(column.name) for column in schema.columns}
        for position, row in enumerate(rows):
            unknown = sorted(str(key) for key in row if normalise_header(str(key)) not in known)
            if unknown:
                field = "input" if "input" in attrs else f"inputs[{position}]"
                raise serializers.ValidationError(
                    {field: _("Unknown columns: %(columns)s.") % {"columns": ", ".join(unknown)}}
                )
        return attrs


class PredictionCreateSerializer(PredictionRequestSerializer):
    webhook = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Where to POST a signed event when the job ends (https, public address).",
    )

    def validate_webhook(self, url: str) -> str:
        return clean_webhook_url(url) if url else ""


class QuoteSerializer(serializers.Serializer):
    model = serializers.CharField()
    rows = serializers.IntegerField()
    price_per_row = serializers.IntegerField()
    cost = serializers.IntegerField()
    balance = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    affordable = serializers.BooleanField()
    shortfall = serializers.IntegerField()


class QuoteRequestSerializer(PredictionRequestSerializer):
    rows = serializers.IntegerField(
        required=False, min_value=1, help_text="Instead of the data: how many rows."
    )

    def validate(self, attrs: dict) -> dict:
        if "rows" in attrs:
            if any(name in attrs for name in ("input", "inputs", "file")):
                raise serializers.ValidationError(_("Send either rows or the data, not both."))
            return attrs
        return super().validate(attrs)


def _catalog_example() -> tuple[str, dict]:
    """The first model shipped in ml_artifacts/ and its example row, for the schema's request
    examples (read from the manifest: the schema is built without a database)."""
    manifest = json.loads((Path(settings.BASE_DIR) / "ml_artifacts" / "manifest.json").read_text())
    entry = manifest["models"][0]
    return entry["slug"], {
        column["name"]: column["example"] for column in entry["schema"]["columns"]
    }


EXAMPLE_MODEL, EXAMPLE_ROW = _catalog_example()
PREDICTION_EXAMPLES = [
    OpenApiExample(
        "One row", value={"model": EXAMPLE_MODEL, "input": EXAMPLE_ROW}, request_only=True
    ),
    OpenApiExample(
        "A few rows inline",
        value={"model": EXAMPLE_MODEL, "inputs": [EXAMPLE_ROW, EXAMPLE_ROW]},
        request_only=True,
    ),
]
QUOTE_EXAMPLES = [
    OpenApiExample("By row count", value={"model": EXAMPLE_MODEL, "rows": 1000}, request_only=True),
    OpenApiExample(
        "For one row", value={"model": EXAMPLE_MODEL, "input": EXAMPLE_ROW}, request_only=True
    ),
]


def _wait_seconds(request) -> int:
    """`Prefer: wait=N` (RFC 7240), N from 1 to 60; 0 when absent or unreadable."""
    for preference in request.headers.get("Prefer", "").split(","):
        name, _sep, value = preference.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                seconds = int(value.strip().strip('"'))
            except ValueError:
                return 0
            return max(0, min(seconds, settings.API_WAIT_MAX_SECONDS))
    return 0


_wait_slots = threading.BoundedSemaphore(settings.API_WAIT_SLOTS)


def _job_response(request, job: PredictionJob, *, created: bool = False) -> Response:
    """The job, after waiting for it to finish when the client asked (Prefer: wait=N): 200
    (201 when created) once finished, 202 while it still runs. Waits are limited per process
    (API_WAIT_SLOTS); beyond, the answer comes at once, without Preference-Applied."""
    seconds = _wait_seconds(request)
    headers = {}
    if seconds and not job.is_finished and _wait_slots.acquire(blocking=False):
        try:
            job = selectors.job_when_finished(job=job, seconds=seconds)
        finally:
            _wait_slots.release()
        headers["Preference-Applied"] = f"wait={seconds}"
    if job.is_finished:
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    else:
        code = status.HTTP_202_ACCEPTED
    data = PredictionJobSerializer(job, context={"request": request}).data
    if created:
        headers["Location"] = reverse("api-prediction", args=[job.pk])
    return Response(data, status=code, headers=headers)


WAIT_PARAMETER = OpenApiParameter(
    "Prefer",
    str,
    OpenApiParameter.HEADER,
    description="`wait=N` (1-60): answer as soon as the job finishes, or after N seconds "
    "with 202 and the job as it is.",
)
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Any unique string (a UUID): a retry with the same key and body within 24 "
    "hours replays the first answer and creates nothing; with another body it is a 409.",
)


class PredictionListCreateApi(ListAPIView):
    """Your prediction jobs, newest first (filter by `status`, `model`, `date_from`,
    `date_to`); POST creates one."""

    serializer_class = PredictionJobSerializer
    filterset_class = JobFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PredictionJob.objects.none()
        return selectors.jobs_of(user=self.request.user)

    @extend_schema(
        summary="Predict one row, a few rows or a file",
        request={
            "application/json": PredictionCreateSerializer,
            "multipart/form-data": PredictionCreateSerializer,
        },
        parameters=[IDEMPOTENCY_PARAMETER, WAIT_PARAMETER],
        examples=PREDICTION_EXAMPLES,
        responses={
            201: PredictionJobSerializer,
            202: PredictionJobSerializer,
            400: error_response(
                "invalid_input",
                "invalid_row",
                "invalid_rows",
                "inline_rows_limit",
                "invalid_webhook_url",
                "invalid_idempotency_key",
                "model_unavailable",
                "explanation_unavailable",
                "unsupported_file",
                "too_many_rows",
                "file_too_large",
                "missing_columns",
            ),
            402: error_response("insufficient_credits"),
            409: error_response("idempotency_key_reused", "idempotency_key_in_use"),
            429: error_response("throttled"),
        },
    )
    def post(self, request):
        return idempotency.respond(request, lambda key: self._create(request, key))

    def _create(self, request, idempotency_key: str) -> Response:
        form = PredictionCreateSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        options = {
            "user": request.user,
            "version": data["model"].default_version,
            "idempotency_key": idempotency_key,
            "webhook_url": data.get("webhook", ""),
        }
        if "input" in data:
            job = services.submit_single(
                record=data["input"], explain=data.get("explain", False), **options
            )
        elif "inputs" in data:
            job = services.submit_rows(records=data["inputs"], **options)
        else:
            upload = data["file"]
            job = services.submit_batch(upload=upload, filename=upload.name, **options)
        return _job_response(request, job, created=True)


class OwnJobApi(GenericAPIView):
    """One of the user's jobs, by id; another user's is a 404."""

    serializer_class = PredictionJobSerializer
    lookup_url_kwarg = "job_id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PredictionJob.objects.none()
        return selectors.jobs_of(user=self.request.user)


class PredictionDetailApi(OwnJobApi):
    @extend_schema(
        summary="One job: status, progress, cost, refund, output",
        parameters=[WAIT_PARAMETER],
        responses={
            200: PredictionJobSerializer,
            202: PredictionJobSerializer,
            404: error_response("not_found"),
        },
    )
    def get(self, request, *args, **kwargs):
        return _job_response(request, self.get_object())


class JobFinished(DomainError):
    http_status = 409

    def __init__(self, job: PredictionJob) -> None:
        super().__init__(
            _("The job has already finished (%(status)s).") % {"status": job.get_status_display()},
            code="job_finished",
            status=job.status,
        )


class PredictionCancelApi(OwnJobApi):
    @extend_schema(
        summary="Cancel a job",
        description="A queued job is canceled at once with a full refund; a running one stops "
        "at its next chunk (202) and is refunded for the rows it did not predict.",
        request=None,
        parameters=[WAIT_PARAMETER],
        responses={
            200: PredictionJobSerializer,
            202: PredictionJobSerializer,
            404: error_response("not_found"),
            409: error_response("job_finished"),
        },
    )
    def post(self, request, *args, **kwargs):
        job = self.get_object()
        if job.is_finished:
            raise JobFinished(job)
        job = services.cancel(job=job)
        return _job_response(request, selectors.jobs_of(user=request.user).get(pk=job.pk))


class ResultNotReady(DomainError):
    http_status = 409

    def __init__(self) -> None:
        super().__init__(_("The job has no result file yet."), code="result_not_ready")


class ResultRemoved(DomainError):
    http_status = 410

    def __init__(self) -> None:
        super().__init__(
            _("The job's files were removed after the retention period."), code="result_removed"
        )


class PredictionResultApi(OwnJobApi):
    @extend_schema(
        summary="The result file (xlsx)",
        description="A redirect (302) to a link valid for 5 minutes on S3, or the file itself.",
        parameters=[],
        responses={
            (200, XLSX): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="Location: a short-lived signed link."),
            404: error_response("not_found"),
            409: error_response("result_not_ready"),
            410: error_response("result_removed"),
        },
    )
    def get(self, request, *args, **kwargs):
        job = self.get_object()
        if job.data_purged_at:
            raise ResultRemoved()
        if not job.result:
            raise ResultNotReady()
        return downloads.stored_file_response(
            job.result, filename=downloads.result_filename(job), content_type=XLSX
        )


class QuoteApi(APIView):
    @extend_schema(
        summary="What a prediction would cost, without running it",
        request={
            "application/json": QuoteRequestSerializer,
            "multipart/form-data": QuoteRequestSerializer,
        },
        examples=QUOTE_EXAMPLES,
        responses={200: QuoteSerializer, 400: error_response("invalid_input", "unsupported_file")},
    )
    def post(self, request):
        form = QuoteRequestSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        version = data["model"].default_version
        if "rows" in data:
            rows = data["rows"]
        elif "file" in data:
            rows = services.inspect_upload(version=version, upload=data["file"])
        else:
            rows = len(data["inputs"]) if "inputs" in data else 1
        quote = services.quote(user=request.user, version=version, rows=rows)
        return Response(
            {
                "model": data["model"].slug,
                "rows": quote.rows,
                "price_per_row": quote.price_per_row,
                "cost": quote.cost,
                "balance": quote.balance,
                "balance_after": quote.balance_after,
                "affordable": quote.affordable,
                "shortfall": quote.shortfall,
            }
        )
