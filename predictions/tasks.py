import logging

from celery import shared_task
from celery.signals import worker_process_init

from mfdp.logging import bound_job_id

from . import services


# The job row is the result: nothing is stored in the result backend.
@shared_task(
    name="predictions.run_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def run_prediction_job(job_id: str) -> str | None:
    """Thin: the service claims the job, so a redelivered message runs nothing twice."""
    with bound_job_id(job_id):
        job = services.run_job(job_id=job_id)
    return job.status if job else None


@worker_process_init.connect
def warm_up(**_kwargs) -> None:
    """Each pool process loads the catalog's models before its first job."""
    logging.getLogger(__name__).info("warmed up %s models", services.warm_up_models())
