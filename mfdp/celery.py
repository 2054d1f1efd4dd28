"""The Celery app: the compute plane. Configuration comes from Django settings (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mfdp.settings")

app = Celery("mfdp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="mfdp.ping")
def ping() -> str:
    """Answer 'pong': lets operators and /readyz-style probes see that a worker consumes."""
    return "pong"
