"""Liveness and readiness probes for load balancers, compose and operators."""

import logging
import time

from django.core.files.storage import default_storage
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from mfdp.celery import app as celery_app

BROKER_TIMEOUT_SECONDS = 3

logger = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)


def _check_storage() -> None:
    bucket = getattr(default_storage, "bucket", None)
    if bucket is not None:
        # S3: exists() would call a missing bucket "no such file"; head_bucket fails on it.
        bucket.meta.client.head_bucket(Bucket=bucket.name)
    else:
        default_storage.exists("readyz-probe")


CHECKS = {"database": _check_database, "broker": _check_broker, "storage": _check_storage}


@never_cache
@require_safe
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request):
    results = {}
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
        except Exception as exc:  # a probe reports any failure, it never raises
            # The public answer names only the kind of failure; the details go to the log.
            logger.warning("readyz: %s check failed", name, exc_info=True)
            results[name] = {"status": "error", "error": type(exc).__name__}
        else:
            results[name] = {"status": "ok"}
        results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    ready = all(r["status"] == "ok" for r in results.values())
    return JsonResponse(
        {"status": "ok" if ready else "error", "checks": results}, status=200 if ready else 503
    )
