"""The own-models API: datasets, algorithms, trainings, model versions, comparison. Every
lookup is scoped to the token's user; another user's object is a 404."""

from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from mfdp import idempotency
from mfdp.api import error_response
from mfdp.errors import DomainError
from predictions.ml.algorithms import ALGORITHMS

from . import selectors, services
from .models import Dataset, TrainingJob
from .serializers import (
    AlgorithmSerializer,
    CompareRequestSerializer,
    DatasetReviseSerializer,
    DatasetSerializer,
    DatasetUploadSerializer,
    TrainingJobSerializer,
    TrainingRequestSerializer,
)
from .services.errors import TARGET_CODES


def _language() -> str:
    return "ru" if (get_language() or "").startswith("ru") else "en"


DATASET_ERRORS = error_response(
    "invalid_input",
    *TARGET_CODES,
    "unsupported_file",
    "file_too_large",
    "too_many_rows",
)


# Datasets


class DatasetListCreateApi(ListAPIView):
    """Your datasets, newest first; POST uploads one (multipart `file` + `target`)."""

    serializer_class = DatasetSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Dataset.objects.none()
        return selectors.datasets_of(user=self.request.user)

    @extend_schema(
        summary="Upload a training table",
        description="The file is read with the prediction uploads' guards; the target is "
        "checked (present, not constant, at least two classes, enough rows) and a schema "
        "suggested. Nothing is charged. With `confirm=true` the schema is accepted at once.",
        request={"multipart/form-data": DatasetUploadSerializer},
        responses={201: DatasetSerializer, 400: DATASET_ERRORS},
    )
    def post(self, request):
        form = DatasetUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        dataset = services.dataset_upload(
            user=request.user,
            upload=data["file"],
            filename=data["file"].name,
            target=data["target"],
            name=data.get("name", ""),
        )
        if data["confirm"]:
            dataset = services.dataset_confirm(dataset=dataset)
        return Response(
            DatasetSerializer(dataset).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api-dataset", args=[dataset.pk])},
        )


class OwnDatasetApi(GenericAPIView):
    serializer_class = DatasetSerializer
    lookup_url_kwarg = "dataset_id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Dataset.objects.none()
        return selectors.datasets_of(user=self.request.user)


class DatasetDetailApi(OwnDatasetApi):
    @extend_schema(summary="One dataset: schema, exploration status and figures")
    def get(self, request, *args, **kwargs):
        data = DatasetSerializer(self.get_object(), context={"with_profile": True}).data
        return Response(data)

    @extend_schema(
        summary="Delete a dataset",
        description="The file and the row go; trainings keep its name and checksum, and the "
        "models they produced stay.",
        responses={204: None},
    )
    def delete(self, request, *args, **kwargs):
        services.dataset_delete(dataset=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetSchemaApi(OwnDatasetApi):
    @extend_schema(
        summary="Revise the suggested schema",
        description="Change column types, ignore columns, or the target's task. The dataset "
        "then needs confirming again.",
        request=DatasetReviseSerializer,
        responses={200: DatasetSerializer, 400: DATASET_ERRORS},
    )
    def post(self, request, *args, **kwargs):
        form = DatasetReviseSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        dataset = services.dataset_revise(dataset=self.get_object(), **form.validated_data)
        return Response(DatasetSerializer(dataset).data)


class DatasetConfirmApi(OwnDatasetApi):
    @extend_schema(
        summary="Confirm the schema",
        description="Trainings use the confirmed schema; a worker computes the exploration.",
        request=None,
        responses={200: DatasetSerializer},
    )
    def post(self, request, *args, **kwargs):
        dataset = services.dataset_confirm(dataset=self.get_object())
        return Response(DatasetSerializer(dataset).data)


# Algorithms


class AlgorithmListApi(APIView):
    """Trainable algorithms: task, hyperparameters (type, bounds, default) and prices."""

    @extend_schema(summary="Trainable algorithms", responses={200: AlgorithmSerializer(many=True)})
    def get(self, request):
        language = _language()
        return Response([algorithm.to_dict(language) for algorithm in ALGORITHMS])


# Trainings

TRAINING_ERRORS = error_response(
    "invalid_input",
    "unknown_algorithm",
    "invalid_hyperparameters",
    "no_usable_columns",
    "algorithm_task_mismatch",
    "dataset_not_confirmed",
    "not_your_model",
    "model_task_mismatch",
)
TRAINING_EXAMPLES = [
    OpenApiExample(
        "A random forest",
        value={
            "dataset": "6f1c2d9e-8a44-4a57-9d49-0b3f1f1f6a10",
            "algorithm": "random_forest_regression",
            "params": {"n_estimators": 200, "max_depth": 12},
            "name": "Car prices",
        },
        request_only=True,
    )
]


def _training_choice(request) -> dict:
    form = TrainingRequestSerializer(data=request.data)
    form.is_valid(raise_exception=True)
    data = form.validated_data
    choice = {
        "dataset": selectors.dataset_of(user=request.user, dataset_id=data["dataset"]),
        "algorithm": data["algorithm"],
        "params": data.get("params") or {},
    }
    if data.get("model"):
        choice["model"] = selectors.owned_model(user=request.user, slug=data["model"])
    if data.get("name"):
        choice["name"] = data["name"]
    return choice


class TrainingQuoteApi(APIView):
    @extend_schema(
        summary="What a training would cost",
        request=TrainingRequestSerializer,
        examples=TRAINING_EXAMPLES,
        responses={200: dict, 400: TRAINING_ERRORS, 404: error_response("not_found")},
    )
    def post(self, request):
        choice = _training_choice(request)
        choice.pop("model", None)
        choice.pop("name", None)
        quote = services.training_quote(user=request.user, **choice)
        return Response(
            {
                "algorithm": quote.algorithm.name,
                "params": quote.params,
                "rows": quote.rows,
                "cost": quote.cost,
                "balance": quote.balance,
                "balance_after": quote.balance_after,
                "affordable": quote.affordable,
                "shortfall": quote.shortfall,
            }
        )


class TrainingListCreateApi(ListAPIView):
    """Your trainings, newest first; POST starts one (charged at once, refunded in full
    unless it produces a model)."""

    serializer_class = TrainingJobSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TrainingJob.objects.none()
        return selectors.trainings_of(user=self.request.user)

    @extend_schema(
        summary="Train a model on a worker",
        request=TrainingRequestSerializer,
        examples=TRAINING_EXAMPLES,
        responses={
            201: TrainingJobSerializer,
            400: TRAINING_ERRORS,
            402: error_response("insufficient_credits"),
            404: error_response("not_found"),
            409: error_response("idempotency_key_reused", "idempotency_key_in_use"),
        },
    )
    def post(self, request):
        return idempotency.respond(request, lambda key: self._create(request, key))

    def _create(self, request, idempotency_key: str) -> Response:
        job = services.training_submit(
            user=request.user, idempotency_key=idempotency_key, **_training_choice(request)
        )
        return Response(
            TrainingJobSerializer(job, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api-training", args=[job.pk])},
        )


class OwnTrainingApi(GenericAPIView):
    serializer_class = TrainingJobSerializer
    lookup_url_kwarg = "job_id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TrainingJob.objects.none()
        return selectors.trainings_of(user=self.request.user)


class TrainingDetailApi(OwnTrainingApi):
    @extend_schema(summary="One training: status, stage, progress, cost, the model produced")
    def get(self, request, *args, **kwargs):
        return Response(TrainingJobSerializer(self.get_object(), context={"request": request}).data)


class TrainingFinished(DomainError):
    http_status = 409

    def __init__(self, job: TrainingJob) -> None:
        super().__init__(
            _("The training has already finished."), code="training_finished", status=job.status
        )


class TrainingCancelApi(OwnTrainingApi):
    @extend_schema(
        summary="Cancel a training",
        description="A queued training is canceled at once; a running one stops at its next "
        "step (202). Either way the charge is refunded in full.",
        request=None,
        responses={200: TrainingJobSerializer, 202: TrainingJobSerializer, 409: dict},
    )
    def post(self, request, *args, **kwargs):
        job = self.get_object()
        if job.is_finished:
            raise TrainingFinished(job)
        job = services.training_cancel(job=job)
        code = status.HTTP_200_OK if job.is_finished else status.HTTP_202_ACCEPTED
        return Response(TrainingJobSerializer(job, context={"request": request}).data, status=code)


# Own model versions and comparison


def _version_row(version, default_id) -> dict:
    return {
        "id": version.pk,
        "version": version.number,
        "active": version.pk == default_id,
        "algorithm": version.training.get("algorithm", ""),
        "metrics": version.metrics,
        "price_per_row": version.price_per_row,
        "created_at": version.created_at,
    }


class ModelVersionListApi(APIView):
    @extend_schema(summary="The versions of one of your models", responses={200: dict})
    def get(self, request, slug: str):
        model = selectors.owned_model(user=request.user, slug=slug)
        versions = model.versions.filter(artifact_purged_at__isnull=True).order_by("-number")
        return Response(
            {
                "model": model.slug,
                "versions": [_version_row(v, model.default_version_id) for v in versions],
            }
        )


class ModelVersionActivateApi(APIView):
    @extend_schema(
        summary="Make a version the one that answers predictions",
        request=None,
        responses={200: dict, 400: error_response("version_unavailable")},
    )
    def post(self, request, slug: str, number: int):
        model = selectors.owned_model(user=request.user, slug=slug)
        version = selectors.owned_version(model=model, number=number)
        model = services.version_activate(model=model, version=version)
        return Response(_version_row(version, model.default_version_id))


class CompareApi(APIView):
    @extend_schema(
        summary="Compare 2-4 versions that predict the same target",
        description="Metrics side by side with the best of each marked (`best` is the index "
        "in `versions`), and each version's ROC curve (classification) or predicted-vs-actual "
        "points (regression) for one chart.",
        request=CompareRequestSerializer,
        examples=[OpenApiExample("Two versions", value={"versions": [12, 15]}, request_only=True)],
        responses={
            200: dict,
            400: error_response("compare_count", "compare_different_targets"),
            404: error_response("not_found"),
        },
    )
    def post(self, request):
        form = CompareRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        versions = selectors.compared_versions(
            user=request.user, ids=form.validated_data["versions"]
        )
        comparison = services.compare(versions=versions)
        return Response(comparison.to_dict(viewer=request.user))
