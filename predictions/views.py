import tempfile
from pathlib import Path

from django.http import FileResponse, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from . import selectors
from .ml.writing import write_template

# Metrics shown on the model page, in this order, with the catalog's labels.
METRIC_ORDER = ("r2", "mae", "rmse", "roc_auc", "accuracy", "f1", "log_loss")


def _language() -> str:
    return "ru" if (get_language() or "").startswith("ru") else "en"


@require_safe
def catalog(request):
    return render(request, "predictions/catalog.html", {"models": selectors.catalog()})


@require_safe
def model_detail(request, slug: str):
    model = selectors.catalog_model(slug=slug)
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
    return render(request, "predictions/model_detail.html", context)


@require_safe
def input_template(request, slug: str):
    """The Excel file a customer fills in: the header, dropdowns, an example row."""
    model = selectors.catalog_model(slug=slug)
    folder = tempfile.TemporaryDirectory()
    path = Path(folder.name) / "template.xlsx"
    write_template(path, schema=model.default_version.input_schema, language=_language())
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"{model.slug}-template.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response._resource_closers.append(folder.cleanup)
    return response


@require_safe
@cache_control(public=True, max_age=3600)
def metrics_plot(request, slug: str):
    model = selectors.catalog_model(slug=slug)
    svg = model.default_version.plot_svg
    if not svg:
        return HttpResponse(status=404)
    response = HttpResponse(svg, content_type="image/svg+xml")
    # An image, never a page: nothing in it may run or load.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
