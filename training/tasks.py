from celery import shared_task

from mfdp.logging import bound_job_id

from . import services


# The dataset and training rows are the results: nothing is stored in the result backend.
@shared_task(
    name="training.profile_dataset", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def profile_dataset(dataset_id: str) -> str | None:
    """Thin: the service claims the dataset, so a redelivered message computes nothing twice."""
    dataset = services.compute_profile(dataset_id=dataset_id)
    return dataset.profile_status if dataset else None


@shared_task(
    name="training.run_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def run_training_job(job_id: str) -> str | None:
    with bound_job_id(job_id):
        job = services.run_training(job_id=job_id)
    return job.status if job else None
