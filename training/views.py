"""Pages of own models: datasets (upload, schema, exploration), trainings (quote, confirm,
follow live), the customer's models with their versions, and versions compared side by side.

Every rule is a service's; these views read the forms, call one service, and render. A
service's refusal (DomainError) is shown in the form it came from, never as an error page.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST, require_safe

from billing.services import InsufficientCredits
from mfdp.errors import DomainError, InvalidInput
from mfdp.pages import redirect_to, to_billing_for
from predictions import charts
from predictions.ml.algorithms import Algorithm, algorithms_for
from predictions.ml.errors import MLError
from predictions.models import JobStatus, MLModel, ModelVersion

from . import selectors, services
from .forms import DatasetUploadForm, SchemaForm, SignedForm, TrainForm
from .models import Dataset, ProfileStatus, TrainingJob
from .services.errors import TARGET_CODES

QUOTE_SALT = "training.quote"
QUOTE_MAX_AGE = 3600  # seconds a training quote may wait for its confirmation
RECENT_TRAININGS = 10
RETRAIN_DATASETS = 10
# Metrics shown for a version, in this order (the names metric_name.html translates).
METRIC_ORDER = ("r2", "mae", "rmse", "roc_auc", "accuracy", "f1", "log_loss")


def _language() -> str:
    return "ru" if (get_language() or "").startswith("ru") else "en"


def _get_dataset_for_user(request, dataset_id) -> Dataset:
    return selectors.dataset_of(user=request.user, dataset_id=dataset_id)


def _get_training_for_user(request, job_id) -> TrainingJob:
    return selectors.training_of(user=request.user, job_id=job_id)


def _get_model_for_user(request, slug: str) -> MLModel:
    return selectors.owned_model(user=request.user, slug=slug)


def _version_label(version: ModelVersion) -> str:
    return _("%(model)s v%(number)s") % {"model": version.model.name, "number": version.number}


# Home


def _home_context(request, *, upload_form=None) -> dict:
    user = request.user
    return {
        "datasets": selectors.datasets_of(user=user),
        "models": selectors.owned_models(user=user),
        "trainings": selectors.trainings_of(user=user)[:RECENT_TRAININGS],
        "upload_form": upload_form or DatasetUploadForm(),
    }


@login_required
@never_cache
@require_safe
def home(request):
    return render(request, "training/home.html", _home_context(request))


@login_required
@require_POST
def dataset_upload(request):
    """Store a training table; a refused one is explained in the form and stores nothing."""
    form = DatasetUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            dataset = services.dataset_upload(
                user=request.user,
                upload=upload,
                filename=upload.name,
                target=form.cleaned_data["target"],
                name=form.cleaned_data["name"],
            )
        except DomainError as error:
            form.add_error("target" if error.code in TARGET_CODES else "file", error.message)
        else:
            messages.success(
                request, _("The table is stored. Check the suggested schema, then confirm it.")
            )
            return redirect("training:dataset", dataset_id=dataset.pk)
    return render(
        request, "training/home.html", _home_context(request, upload_form=form), status=400
    )


# Datasets


def _usable_algorithms(dataset: Dataset) -> list[Algorithm]:
    """The algorithms for the dataset's task that find columns of their kind in it."""
    schema = services.dataset_schema(dataset)
    usable = []
    for algorithm in algorithms_for(schema.task):
        try:
            algorithm.columns(schema.features())
        except MLError:
            continue
        usable.append(algorithm)
    return usable


def _retrainable_models(request, dataset: Dataset) -> list[MLModel]:
    task = services.dataset_schema(dataset).task
    return list(selectors.owned_models(user=request.user).filter(task=task))


def _train_form(request, dataset: Dataset, data=None, *, initial=None) -> TrainForm:
    return TrainForm(
        data,
        initial=initial or {},
        algorithms=_usable_algorithms(dataset),
        models=_retrainable_models(request, dataset),
        language=_language(),
    )


def _dataset_context(request, dataset: Dataset, *, schema_form=None, train_form=None) -> dict:
    schema = services.dataset_schema(dataset)
    context = {
        "dataset": dataset,
        "schema": schema,
        "schema_form": schema_form or SchemaForm(schema=schema, dataset_name=dataset.name),
        "exploration": _exploration(dataset.profile)
        if dataset.profile_status == ProfileStatus.READY and dataset.profile
        else None,
    }
    if dataset.is_confirmed:
        initial = {"model": request.GET.get("model", "")}
        context["train_form"] = train_form or _train_form(request, dataset, initial=initial)
    return context


@login_required
@never_cache
@require_GET
def dataset_detail(request, dataset_id):
    dataset = _get_dataset_for_user(request, dataset_id)
    template_name = "training/dataset_detail.html"
    if request.htmx and request.GET.get("part") == "exploration":
        template_name += "#exploration"
    return render(request, template_name, _dataset_context(request, dataset))


@login_required
@require_POST
def dataset_revise(request, dataset_id):
    dataset = _get_dataset_for_user(request, dataset_id)
    form = SchemaForm(
        request.POST, schema=services.dataset_schema(dataset), dataset_name=dataset.name
    )
    if form.is_valid():
        try:
            dataset = services.dataset_revise(dataset=dataset, **form.revision())
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The schema is revised. Confirm it to train."))
            return redirect_to(request, reverse("training:dataset", args=[dataset.pk]))
    context = _dataset_context(request, dataset, schema_form=form)
    return render(request, "training/dataset_detail.html", context, status=400)


@login_required
@require_POST
def dataset_confirm(request, dataset_id):
    dataset = services.dataset_confirm(dataset=_get_dataset_for_user(request, dataset_id))
    messages.success(request, _("The schema is confirmed; the exploration is being computed."))
    return redirect_to(request, reverse("training:dataset", args=[dataset.pk]))


@login_required
@require_POST
def dataset_delete(request, dataset_id):
    services.dataset_delete(dataset=_get_dataset_for_user(request, dataset_id))
    messages.success(request, _("The dataset is deleted. Models trained on it stay."))
    return redirect_to(request, reverse("training:home"))


# The exploration's figures


def _stat_labels(stats: dict | None) -> dict:
    """A distribution's figures as the page prints them (four significant digits)."""
    return {name: charts.number_label(value, 4) for name, value in (stats or {}).items()}


def _top_values_chart(column: dict) -> dict:
    items = [(str(entry["value"]), entry["count"]) for entry in column.get("top_values", [])]
    if column.get("other_count"):
        items.append((_("other values"), column["other_count"]))
    return charts.bar_chart(items)


def _counts_chart(entries: list[dict], key: str) -> dict:
    return charts.bar_chart([(entry[key], entry["count"]) for entry in entries])


def _text_figures(column: dict) -> dict:
    characters = column["lengths"]["characters"]
    edges = characters["histogram"]["edges"]
    return {
        "lengths": _stat_labels(characters["stats"]),
        "lengths_chart": charts.histogram(edges, characters["histogram"]["counts"]),
        "tokens_chart": _counts_chart(column.get("tokens", []), "token"),
        "bigrams_chart": _counts_chart(column.get("bigrams", []), "bigram"),
        "by_class": [
            {
                "label": group["label"],
                "rows": group["rows"],
                "lengths": _stat_labels(group["characters"]["stats"]),
                "lengths_chart": charts.histogram(edges, group["characters"]["counts"]),
                "tokens_chart": _counts_chart(group.get("tokens", []), "token"),
                "bigrams_chart": _counts_chart(group.get("bigrams", []), "bigram"),
            }
            for group in column.get("by_class", [])
        ],
    }


def _column_figures(column: dict) -> dict:
    figures = {"column": column}
    if column["type"] in ("number", "integer"):
        histogram = column.get("histogram") or {}
        figures["stats"] = _stat_labels(column.get("stats"))
        figures["histogram"] = charts.histogram(
            histogram.get("edges", []), histogram.get("counts", [])
        )
    elif column["type"] in ("category", "boolean"):
        figures["top_values"] = _top_values_chart(column)
    else:
        figures["text"] = _text_figures(column)
    return figures


def _target_figures(target: dict) -> dict:
    figures = {"target": target, "stats": _stat_labels(target.get("stats"))}
    if target.get("task") == "regression":
        histogram = target.get("histogram") or {}
        figures["histogram"] = charts.histogram(
            histogram.get("edges", []), histogram.get("counts", [])
        )
    else:
        figures["classes"] = charts.bar_chart(
            [(entry["label"], entry["count"]) for entry in target.get("classes", [])]
        )
    return figures


def _exploration(profile: dict) -> dict:
    """The figures of a profile with their charts' geometry."""
    columns = profile.get("columns", [])
    associated = sorted(
        (column for column in columns if isinstance(column.get("association"), int | float)),
        key=lambda column: -abs(column["association"]),
    )
    return {
        "profile": profile,
        "target": _target_figures(profile.get("target", {})),
        "associations": charts.bar_chart(
            [(column["name"], column["association"]) for column in associated]
        ),
        "association_rows": associated,
        "columns": [_column_figures(column) for column in columns],
    }


# Training: parameters, quote, confirm


@login_required
@require_GET
def train_parameters(request, dataset_id):
    """The chosen algorithm's hyperparameter fields (htmx swaps them when it changes)."""
    dataset = _get_dataset_for_user(request, dataset_id)
    if not dataset.is_confirmed:
        raise Http404("not confirmed")
    form = _train_form(request, dataset, initial={"algorithm": request.GET.get("algorithm")})
    return render(
        request,
        "training/dataset_detail.html#parameters",
        {"dataset": dataset, "train_form": form},
    )


def _quote_token(*, request, dataset: Dataset, quote, name: str, model_slug: str) -> str:
    payload = {
        "user": request.user.pk,
        "dataset": str(dataset.pk),
        "algorithm": quote.algorithm.name,
        "params": quote.params,
        "name": name,
        "model": model_slug,
        "cost": quote.cost,
        # One training per quote, however many times Confirm is pressed.
        "key": f"page-{uuid.uuid4().hex}",
    }
    return signing.dumps(payload, salt=QUOTE_SALT)


@login_required
@require_POST
def train_quote(request, dataset_id):
    """Check the algorithm and hyperparameters and show what training would cost; charges
    nothing."""
    dataset = _get_dataset_for_user(request, dataset_id)
    if not dataset.is_confirmed:
        messages.error(request, services.DatasetNotConfirmed().message)
        return redirect_to(request, reverse("training:dataset", args=[dataset.pk]))
    form = _train_form(request, dataset, request.POST)
    context = {}
    if form.is_valid():
        try:
            quote = services.training_quote(
                user=request.user,
                dataset=dataset,
                algorithm=form.cleaned_data["algorithm"],
                params=form.params(),
            )
        except InvalidInput as error:
            form.add_problems(error.details.get("problems") or [])
            if not form.errors:
                form.add_error(None, error.message)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            context["quote"] = quote
            context["confirm_form"] = SignedForm(
                initial={
                    "quote": _quote_token(
                        request=request,
                        dataset=dataset,
                        quote=quote,
                        name=form.cleaned_data["name"],
                        model_slug=form.cleaned_data["model"],
                    )
                }
            )
    template_name = "training/dataset_detail.html"
    if request.htmx:
        template_name += "#train"
        context.update({"dataset": dataset, "train_form": form})
    else:
        context.update(_dataset_context(request, dataset, train_form=form))
    return render(request, template_name, context, status=200 if "quote" in context else 400)


def _quoted(request, dataset: Dataset) -> dict | None:
    form = SignedForm(request.POST)
    if not form.is_valid():
        return None
    try:
        payload = signing.loads(form.cleaned_data["quote"], salt=QUOTE_SALT, max_age=QUOTE_MAX_AGE)
    except signing.BadSignature:
        return None
    if payload.get("user") != request.user.pk or payload.get("dataset") != str(dataset.pk):
        return None
    return payload


@login_required
@require_POST
def train_confirm(request, dataset_id):
    """Charge the quoted training and queue it."""
    dataset = _get_dataset_for_user(request, dataset_id)
    here = reverse("training:dataset", args=[dataset.pk])
    payload = _quoted(request, dataset)
    if payload is None:
        messages.error(request, _("This quote has expired. Ask for a new one."))
        return redirect_to(request, here)
    model = None
    if payload.get("model"):
        model = selectors.owned_models(user=request.user).filter(slug=payload["model"]).first()
        if model is None:
            messages.error(request, _("The model to retrain no longer exists."))
            return redirect_to(request, here)
    try:
        job = services.training_submit(
            user=request.user,
            dataset=dataset,
            algorithm=payload["algorithm"],
            params=payload["params"],
            name=payload.get("name", ""),
            model=model,
            idempotency_key=payload["key"],
            quoted_cost=payload.get("cost"),
        )
    except InsufficientCredits as error:
        return to_billing_for(request, error)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect_to(request, here)
    return redirect_to(request, reverse("training:training", args=[job.pk]))


# Trainings


def _metric_rows(version: ModelVersion) -> list[tuple[str, float]]:
    return [
        (name, version.metrics[name])
        for name in METRIC_ORDER
        if isinstance(version.metrics.get(name), int | float)
    ]


def _classification_curves(curves: dict) -> dict:
    roc, precision_recall = curves.get("roc") or {}, curves.get("precision_recall") or {}
    if "fpr" in roc:
        roc_series = [{"name": _("ROC"), "xs": roc["fpr"], "ys": roc["tpr"]}]
    else:
        roc_series = [
            {"name": label, "xs": curve["fpr"], "ys": curve["tpr"]} for label, curve in roc.items()
        ]
    if "recall" in precision_recall:
        pr_series = [
            {
                "name": _("precision-recall"),
                "xs": precision_recall["recall"],
                "ys": precision_recall["precision"],
            }
        ]
    else:
        pr_series = [
            {"name": label, "xs": curve["recall"], "ys": curve["precision"]}
            for label, curve in precision_recall.items()
        ]
    figures = {}
    if roc_series:
        figures["roc"] = charts.line_chart(
            roc_series, x_range=(0.0, 1.0), y_range=(0.0, 1.0), diagonal=True
        )
    if pr_series:
        figures["precision_recall"] = charts.line_chart(
            pr_series, x_range=(0.0, 1.0), y_range=(0.0, 1.0)
        )
    matrix = curves.get("confusion_matrix")
    if matrix:
        figures["confusion"] = {
            "labels": matrix["labels"],
            "rows": list(
                zip(matrix["labels"], charts.confusion_cells(matrix["matrix"]), strict=False)
            ),
        }
    return figures


def _regression_curves(curves: dict) -> dict:
    figures = {}
    points = curves.get("predicted_vs_actual") or {}
    if points.get("actual"):
        figures["predicted_vs_actual"] = charts.scatter(
            [{"name": _("held-out rows"), "xs": points["actual"], "ys": points["predicted"]}]
        )
    residuals = curves.get("residual_histogram") or {}
    if residuals.get("counts"):
        figures["residuals"] = charts.histogram(residuals["edges"], residuals["counts"])
    return figures


def _version_figures(version: ModelVersion) -> dict:
    """What a trained version shows: metrics, evaluation curves, feature importance, record."""
    curves = version.curves or {}
    figures = (
        _classification_curves(curves)
        if version.model.task == "classification"
        else _regression_curves(curves)
    )
    importance = [
        (entry["feature"], entry["importance"]) for entry in version.feature_importance or []
    ]
    return {
        "version": version,
        "metrics": _metric_rows(version),
        "curves": figures,
        "importance": charts.bar_chart(importance) if importance else None,
        "record": version.training or {},
    }


def _training_context(job: TrainingJob) -> dict:
    context = {"job": job}
    if job.status == JobStatus.SUCCEEDED and job.version is not None:
        context["result"] = _version_figures(job.version)
        context["previous"] = (
            job.version.model.versions.filter(number__lt=job.version.number)
            .order_by("-number")
            .first()
        )
    return context


@login_required
@never_cache
@require_GET
def training_detail(request, job_id):
    job = _get_training_for_user(request, job_id)
    template_name = "training/training_detail.html"
    if request.htmx:
        template_name += "#progress"
    return render(request, template_name, _training_context(job))


@login_required
@require_POST
def training_cancel(request, job_id):
    job = services.training_cancel(job=_get_training_for_user(request, job_id))
    job = _get_training_for_user(request, job.pk)
    if request.htmx:
        return render(request, "training/training_detail.html#progress", _training_context(job))
    if job.status == JobStatus.CANCELED:
        messages.success(request, _("The training is canceled; its credits are refunded."))
    elif not job.is_finished:
        messages.info(request, _("The training stops at its next step; its credits are refunded."))
    return redirect("training:training", job_id=job.pk)


# Own models


@login_required
@never_cache
@require_safe
def model_detail(request, slug: str):
    model = _get_model_for_user(request, slug)
    versions = [
        {
            "version": version,
            "headline": version.headline,
            "algorithm": version.training.get("algorithm", ""),
        }
        for version in model.versions.order_by("-number")
    ]
    datasets = selectors.datasets_of(user=request.user).filter(
        confirmed_at__isnull=False, schema__task=model.task
    )[:RETRAIN_DATASETS]
    context = {"model": model, "versions": versions, "retrain_datasets": datasets}
    return render(request, "training/model_detail.html", context)


@login_required
@require_POST
def model_activate(request, slug: str):
    model = _get_model_for_user(request, slug)
    version = selectors.owned_version(model=model, number=request.POST.get("number", ""))
    try:
        services.version_activate(model=model, version=version)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("Version %(number)s now answers predictions.") % {"number": version.number}
        )
    return redirect_to(request, reverse("training:model", args=[model.slug]))


@login_required
@require_POST
def model_delete(request, slug: str):
    model = services.model_delete(model=_get_model_for_user(request, slug))
    messages.success(
        request,
        _("The model “%(name)s” is deleted. Its jobs and statement entries stay.")
        % {"name": model.name},
    )
    return redirect_to(request, reverse("training:home"))


# Comparison


def _overlay(comparison, labels: list[str], viewer) -> dict | None:
    series = []
    entries = comparison.to_dict(viewer=viewer)["versions"]
    for label, entry in zip(labels, entries, strict=True):
        curves = entry["curves"]
        if comparison.task == "classification" and curves.get("roc"):
            roc = curves["roc"]
            series.append({"name": label, "xs": roc["fpr"], "ys": roc["tpr"]})
        points = curves.get("predicted_vs_actual") or {}
        if comparison.task == "regression" and points.get("actual"):
            series.append({"name": label, "xs": points["actual"], "ys": points["predicted"]})
    if not series:
        return None
    if comparison.task == "classification":
        return charts.line_chart(series, x_range=(0.0, 1.0), y_range=(0.0, 1.0), diagonal=True)
    return charts.scatter(series)


@login_required
@never_cache
@require_GET
def compare(request):
    versions = selectors.compared_versions(user=request.user, ids=request.GET.getlist("v"))
    labels = [
        " · ".join(filter(None, [_version_label(v), v.training.get("algorithm", "")]))
        for v in versions
    ]
    context = {"versions": versions, "labels": labels}
    try:
        comparison = services.compare(versions=versions)
    except DomainError as error:
        context["error"] = error.message
        return render(request, "training/compare.html", context, status=400)
    context["comparison"] = comparison
    context["rows"] = [
        {
            "name": row["name"],
            "higher_is_better": row["higher_is_better"],
            "cells": [
                {"value": value, "best": index == row["best"]}
                for index, value in enumerate(row["values"])
            ],
        }
        for row in comparison.metrics
    ]
    context["overlay"] = _overlay(comparison, labels, request.user)
    return render(request, "training/compare.html", context)
