import tempfile
import time
from io import BytesIO
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.paginator import Paginator
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST, require_safe
from python_calamine import CalamineWorkbook

from billing.services import InsufficientCredits
from mfdp.errors import DomainError, InvalidInput
from mfdp.pages import redirect_to, to_billing_for

from . import downloads, selectors, services
from .explanations import explanation_chart, explanation_sentence
from .filters import JobFilter
from .forms import ConfirmForm, RowForm, UploadForm
from .ml.writing import write_template
from .models import JobKind, ModelVersion, PredictionJob

# Metrics shown on the model page, in this order, with the catalog's labels.
METRIC_ORDER = ("r2", "mae", "rmse", "roc_auc", "accuracy", "f1", "log_loss")
# How long the one-row view waits for the worker before the page polls instead.
SINGLE_WAIT_SECONDS = 2.0
SINGLE_POLL_SECONDS = 0.1
QUOTE_SALT = "predictions.quote"
PREVIEW_ROWS = 20
JOBS_PAGE_SIZE = 25


def _language() -> str:
    return "ru" if (get_language() or "").startswith("ru") else "en"


@require_safe
def catalog(request):
    return render(request, "predictions/catalog.html", {"models": selectors.catalog()})


def _model_context(request, model, *, row_form=None, upload_form=None) -> dict:
    version = model.default_version
    language = _language()
    fields = [
        {"column": column, "description": column.describe(language)}
        for column in version.input_schema.columns
    ]
    metrics = [
        (name, version.metrics[name])
        for name in METRIC_ORDER
        if isinstance(version.metrics.get(name), int | float)
    ]
    context = {"model": model, "version": version, "fields": fields, "metrics": metrics}
    if request.user.is_authenticated:
        context["row_form"] = row_form or RowForm(
            schema=version.input_schema, language=language, explain=version.can_explain
        )
        context["upload_form"] = upload_form or UploadForm()
    return context


@require_safe
def model_detail(request, slug: str):
    model = selectors.usable_model(user=request.user, slug=slug)
    return render(request, "predictions/model_detail.html", _model_context(request, model))


@require_safe
def input_template(request, slug: str):
    """The Excel file a customer fills in: the header, dropdowns, an example row."""
    model = selectors.usable_model(user=request.user, slug=slug)
    folder = tempfile.TemporaryDirectory()
    path = Path(folder.name) / "template.xlsx"
    write_template(path, schema=model.default_version.input_schema, language=_language())
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"{model.slug}-template.xlsx",
        content_type=downloads.XLSX,
    )
    response._resource_closers.append(folder.cleanup)
    return response


@require_safe
def metrics_plot(request, slug: str):
    model = selectors.usable_model(user=request.user, slug=slug)
    svg = model.default_version.plot_svg
    if not svg:
        return HttpResponse(status=404)
    response = HttpResponse(svg, content_type="image/svg+xml")
    # A customer's private model's plot stays out of shared caches.
    patch_cache_control(
        response, max_age=3600, **{"public" if model.is_published else "private": True}
    )
    # An image, never a page: nothing in it may run or load.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


# One row and files, from the model page


def _wait_for(job: PredictionJob) -> PredictionJob:
    """Give the worker a moment: most single rows finish before the page needs to poll."""
    deadline = time.monotonic() + SINGLE_WAIT_SECONDS
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(SINGLE_POLL_SECONDS)
        job.refresh_from_db()
    return job


@login_required
@require_POST
def predict_row(request, slug: str):
    model = selectors.usable_model(user=request.user, slug=slug)
    version = model.default_version
    form = RowForm(
        request.POST,
        schema=version.input_schema,
        language=_language(),
        explain=version.can_explain,
    )
    context = {"shortfall": None, "job": None}
    if form.is_valid():
        try:
            job = services.submit_single(
                user=request.user,
                version=version,
                record=form.record(),
                explain=form.wants_explanation(),
            )
        except InvalidInput as error:
            form.add_problems(error.details.get("problems") or [])
            if not form.errors:
                form.add_error(None, error.message)
        except InsufficientCredits as error:
            context["shortfall"] = error.shortfall
        else:
            context.update(_job_context(_wait_for(job)))
            form = RowForm(
                initial=request.POST.dict(),
                schema=version.input_schema,
                language=_language(),
                explain=version.can_explain,
            )
    context.update(_model_context(request, model, row_form=form))
    template_name = "predictions/model_detail.html"
    if request.htmx:
        template_name += "#predict"
    return render(request, template_name, context)


def _quote_token(*, request, key: str, name: str, version: ModelVersion, rows: int) -> str:
    payload = {"key": key, "name": name, "version": version.pk, "rows": rows}
    payload["user"] = request.user.pk
    return signing.dumps(payload, salt=QUOTE_SALT)


@login_required
@require_POST
def quote_upload(request, slug: str):
    """Check the file and show what it would cost; charges nothing. The file is kept under a
    random key until the customer confirms, and the key travels signed in the form."""
    model = selectors.usable_model(user=request.user, slug=slug)
    version = model.default_version
    form = UploadForm(request.POST, request.FILES)
    context = {"model": model, "version": version, "upload_form": form}
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            rows = services.inspect_upload(version=version, upload=upload)
        except InvalidInput as error:
            form.add_error("file", error.message)
        else:
            key = services.quote_upload_hold(user=request.user, upload=upload)
            quote = services.quote(user=request.user, version=version, rows=rows)
            token = _quote_token(
                request=request, key=key, name=upload.name, version=version, rows=rows
            )
            context["quote"] = quote
            context["file_name"] = Path(upload.name).name
            context["confirm_form"] = ConfirmForm(initial={"quote": token})
    template_name = "predictions/model_detail.html"
    if request.htmx:
        template_name += "#quote"
    else:
        context.update(_model_context(request, model, upload_form=form))
    return render(request, template_name, context, status=200 if "quote" in context else 400)


@login_required
@require_POST
def confirm_upload(request, slug: str):
    """Charge the quoted file and start its job."""
    model = selectors.usable_model(user=request.user, slug=slug)
    version = model.default_version
    form = ConfirmForm(request.POST)
    try:
        if not form.is_valid():
            raise signing.BadSignature("no quote")
        payload = signing.loads(
            form.cleaned_data["quote"],
            salt=QUOTE_SALT,
            max_age=services.QUOTE_HOLD.total_seconds(),
        )
    except signing.BadSignature:
        payload = None
    if (
        not payload
        or payload.get("user") != request.user.pk
        or payload.get("version") != version.pk
    ):
        messages.error(request, services.QuoteExpired().message)
        return redirect_to(request, reverse("predictions:model", args=[model.slug]))
    try:
        job = services.submit_quoted_upload(
            user=request.user, version=version, key=str(payload["key"]), filename=payload["name"]
        )
    except InsufficientCredits as error:
        return to_billing_for(request, error)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect_to(request, reverse("predictions:model", args=[model.slug]))
    return redirect_to(request, reverse("jobs:detail", args=[job.pk]))


# Jobs


def _get_job_for_user(request, job_id) -> PredictionJob:
    return get_object_or_404(
        PredictionJob.objects.select_related("version__model"), id=job_id, owner=request.user
    )


def _result_preview(job: PredictionJob) -> list[list]:
    """The first rows of the result file, header included."""
    if not job.result or job.data_purged_at:
        return []
    with job.result.open("rb") as stored:
        workbook = CalamineWorkbook.from_filelike(BytesIO(stored.read()))
    return workbook.get_sheet_by_index(0).to_python(nrows=PREVIEW_ROWS + 1)


def _job_context(job: PredictionJob) -> dict:
    output = job.output or {}
    probabilities = [
        (key.removeprefix("probability "), value)
        for key, value in output.items()
        if key.startswith("probability ")
    ]
    preview = _result_preview(job) if job.is_finished and job.kind == JobKind.BATCH else []
    explanation = output.get("explanation")
    return {
        "job": job,
        "explanation": explanation,
        "explanation_sentence": explanation_sentence(explanation) if explanation else "",
        "explanation_chart": explanation_chart(explanation) if explanation else None,
        "prediction": output.get("prediction"),
        "probabilities": probabilities,
        "preview_header": preview[0] if preview else [],
        "preview_rows": preview[1:],
    }


@login_required
@never_cache
@require_GET
def job_list(request):
    jobs = PredictionJob.objects.filter(owner=request.user).select_related("version__model")
    job_filter = JobFilter(request.GET or {}, queryset=jobs, user=request.user)
    found = job_filter.qs if job_filter.is_valid() else jobs.none()
    page = Paginator(found.order_by("-created_at"), JOBS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {"job_filter": job_filter, "page": page, "filter_query": query.urlencode()}
    return render(request, "predictions/job_list.html", context)


@login_required
@never_cache
@require_GET
def job_detail(request, job_id):
    job = _get_job_for_user(request, job_id)
    template_name = "predictions/job_detail.html"
    if request.htmx:
        template_name += "#outcome" if request.GET.get("part") == "outcome" else "#progress"
    return render(request, template_name, _job_context(job))


@login_required
@require_POST
def job_cancel(request, job_id):
    job = services.cancel(job=_get_job_for_user(request, job_id))
    if request.htmx:
        return render(request, "predictions/job_detail.html#progress", _job_context(job))
    messages.success(request, _("The job is canceled; undelivered rows are refunded."))
    return redirect("jobs:detail", job_id=job.pk)


def _download(request, job: PredictionJob, stored, *, filename: str, content_type: str | None):
    if job.data_purged_at or not stored:
        messages.error(request, _("This job's files were removed."))
        return redirect("jobs:detail", job_id=job.pk)
    return downloads.stored_file_response(stored, filename=filename, content_type=content_type)


@login_required
@require_safe
def job_result(request, job_id):
    job = _get_job_for_user(request, job_id)
    return _download(
        request,
        job,
        job.result,
        filename=downloads.result_filename(job),
        content_type=downloads.XLSX,
    )


@login_required
@require_safe
def job_upload(request, job_id):
    job = _get_job_for_user(request, job_id)
    name = job.upload_name or "upload"
    return _download(request, job, job.upload, filename=name, content_type=None)
