from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from predictions.models import PredictionJob

from . import selectors


@login_required
@never_cache
@require_GET
def job_deliveries(request, job_id):
    """The webhook section of the job page, refreshed by htmx while deliveries go on."""
    job = get_object_or_404(PredictionJob, pk=job_id, owner=request.user)
    return render(request, "webhooks/job_deliveries.html", selectors.job_deliveries(job=job))
