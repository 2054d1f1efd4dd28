from celery import shared_task

from . import services


@shared_task(name="predictions.run_job", acks_late=True, reject_on_worker_lost=True)
def run_prediction_job(job_id: str) -> str | None:
    """Thin: the service claims the job, so a redelivered message runs nothing twice."""
    job = services.run_job(job_id=job_id)
    return job.status if job else None
