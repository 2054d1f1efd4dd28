"""The housekeeping plane: django-q2 task functions and the schedules that run them.

Each task is thin: it calls one service, logs what it did and returns a one-line summary
(django-q2 keeps it with the task: admin, Django Q, Successful tasks). Every task is safe to
run at any time, any number of times, from any host. `manage.py setup_schedules` creates one
schedule per entry of SCHEDULES (docs/operations.md).
"""

import logging
from dataclasses import dataclass

from django.conf import settings

from billing import services as billing
from mfdp import idempotency
from predictions import services as predictions
from training import services as training
from webhooks import services as webhooks

logger = logging.getLogger(__name__)


def reap_silent_jobs() -> str:
    """Fail and refund running prediction jobs and trainings whose heartbeat is older than
    JOB_HEARTBEAT_TIMEOUT_SECONDS (their worker was killed or lost)."""
    failed = predictions.fail_silent_jobs()
    trainings = training.fail_silent_trainings()
    logger.info(
        "reaper: %s silent job(s) and %s training(s) failed and refunded", failed, trainings
    )
    return f"{failed} silent job(s) and {trainings} training(s) failed and refunded"


def purge_job_files() -> str:
    """Delete uploads and results past JOB_FILES_RETENTION_DAYS (the jobs stay and say so),
    and the model files of own models deleted that long ago (the versions stay)."""
    purged = predictions.purge_old_files()
    models = training.purge_deleted_models()
    logger.info(
        "retention: files of %s job(s) and %s deleted model version(s) removed", purged, models
    )
    return f"files of {purged} job(s) and {models} deleted model version(s) removed"


def sweep_quote_uploads() -> str:
    """Delete quoted uploads never confirmed once their quote (an hour) has expired."""
    swept = predictions.sweep_quote_uploads()
    logger.info("quotes: %s unconfirmed upload(s) removed", swept)
    return f"{swept} unconfirmed upload(s) removed"


def forget_idempotency_keys() -> str:
    """Delete Idempotency-Key records older than IDEMPOTENCY_KEY_HOURS."""
    forgotten = idempotency.forget_expired()
    logger.info("idempotency: %s expired key(s) forgotten", forgotten)
    return f"{forgotten} expired key(s) forgotten"


def redeliver_webhooks() -> str:
    """Enqueue deliveries that lost their task, give up the expired, create missing events."""
    counts = webhooks.redeliver_overdue_events()
    summary = (
        f"{counts['enqueued']} event(s) enqueued again, {counts['given_up']} given up, "
        f"{counts['created']} missing event(s) created"
    )
    logger.info("webhooks: %s", summary)
    return summary


def send_low_balance_emails() -> str:
    """E-mail customers whose balance fell under their threshold, once per crossing."""
    sent = billing.notify_low_balances()
    logger.info("low balance: %s e-mail(s) sent", sent)
    return f"{sent} low-balance e-mail(s) sent"


@dataclass(frozen=True)
class HousekeepingSchedule:
    name: str  # the schedule's identity: setup_schedules finds it by this name
    func: str
    minutes_setting: str  # the setting with the interval a new schedule starts with

    @property
    def minutes(self) -> int:
        return getattr(settings, self.minutes_setting)


SCHEDULES = (
    HousekeepingSchedule(
        "housekeeping: reap silent jobs",
        "mfdp.housekeeping.reap_silent_jobs",
        "HOUSEKEEPING_REAP_MINUTES",
    ),
    HousekeepingSchedule(
        "housekeeping: purge job files",
        "mfdp.housekeeping.purge_job_files",
        "HOUSEKEEPING_PURGE_MINUTES",
    ),
    HousekeepingSchedule(
        "housekeeping: sweep quote uploads",
        "mfdp.housekeeping.sweep_quote_uploads",
        "HOUSEKEEPING_QUOTE_SWEEP_MINUTES",
    ),
    HousekeepingSchedule(
        "housekeeping: forget idempotency keys",
        "mfdp.housekeeping.forget_idempotency_keys",
        "HOUSEKEEPING_IDEMPOTENCY_MINUTES",
    ),
    HousekeepingSchedule(
        "housekeeping: redeliver webhooks",
        "mfdp.housekeeping.redeliver_webhooks",
        "HOUSEKEEPING_WEBHOOKS_MINUTES",
    ),
    HousekeepingSchedule(
        "housekeeping: low-balance e-mails",
        "mfdp.housekeeping.send_low_balance_emails",
        "HOUSEKEEPING_LOW_BALANCE_MINUTES",
    ),
)
