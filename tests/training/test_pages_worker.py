"""The own-model pages on a real Celery worker: a customer uploads a table, confirms it,
waits for the exploration, trains through the quote and confirm forms, follows the training,
and predicts one row with an explanation, every computation on the worker."""

import re
import time

import pytest
from django.urls import reverse

from billing.selectors import balance_of
from predictions.models import PredictionJob
from training.models import Dataset, ProfileStatus, TrainingJob

from .conftest import CREDITS, car_frame, csv_upload, review_frame

HTMX = {"HTTP_HX_REQUEST": "true"}
WAIT_SECONDS = 120  # a bound for the wait, not an expectation


def _until(read, done, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while not done(value := read()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {WAIT_SECONDS} s")
        time.sleep(0.2)
    return value


def _explored(client, frame, target: str) -> Dataset:
    response = client.post(
        reverse("training:upload"), {"file": csv_upload(frame), "target": target}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    dataset = Dataset.objects.latest("created_at")
    client.post(reverse("training:confirm", args=[dataset.pk]))
    url = reverse("training:dataset", args=[dataset.pk])
    html = _until(
        lambda: client.get(url, {"part": "exploration"}, **HTMX).content.decode(),
        lambda page: "<progress" not in page,
        "the exploration",
    )
    dataset.refresh_from_db()
    assert dataset.profile_status == ProfileStatus.READY, dataset.profile_error
    assert "<svg" in html
    return dataset


def _trained(client, dataset: Dataset, form: dict) -> TrainingJob:
    quote = client.post(reverse("training:quote", args=[dataset.pk]), form, **HTMX)
    found = re.search(r'name="quote" value="([^"]+)"', quote.content.decode())
    assert found, re.findall(r'role="alert"[^>]*>([^<]+)<', quote.content.decode())
    token = found.group(1)
    started = client.post(reverse("training:train", args=[dataset.pk]), {"quote": token})
    assert started.status_code == 302
    job = TrainingJob.objects.latest("created_at")
    page = _until(
        lambda: client.get(reverse("training:training", args=[job.pk]), **HTMX).content.decode(),
        lambda html: "every 1s" not in html,
        "the training",
    )
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert "<svg" in page
    return job


def _explained_sentence(client, job: TrainingJob, form: dict) -> str:
    slug = job.version.model.slug
    client.post(reverse("predictions:predict", args=[slug]), {**form, "explain": "on"}, **HTMX)
    prediction = PredictionJob.objects.latest("created_at")
    html = _until(
        lambda: client.get(
            reverse("jobs:detail", args=[prediction.pk]), {"part": "outcome"}, **HTMX
        ).content.decode(),
        lambda page: "explanation-sentence" in page or "message-error" in page,
        "the explained prediction",
    )
    return re.search(r'data-testid="explanation-sentence">([^<]+)<', html).group(1)


@pytest.mark.django_db(transaction=True)
def test_a_customer_trains_and_explains_through_the_pages_on_the_worker(
    celery_worker, client, trainer
):
    client.force_login(trainer)

    cars = _explored(client, car_frame(), "Price")
    forest = _trained(
        client,
        cars,
        {
            "algorithm": "hist_gradient_boosting_regression",
            "p_max_iter": "50",
            "p_learning_rate": "0.1",
            "p_max_leaf_nodes": "15",
            "p_l2_regularization": "0",
            "name": "Car prices",
        },
    )
    names = forest.version.input_schema.names
    row = {"Mileage": "58000", "Year": "1999", "Make": "Pontiac", "Cruise": "no"}
    sentence = _explained_sentence(
        client, forest, {f"c{names.index(column)}": value for column, value in row.items()}
    )
    assert sentence.startswith("Lower than average mainly because of ")

    reviews = _explored(client, review_frame(), "Sentiment")
    text = _trained(client, reviews, {"algorithm": "tfidf_linear_svm", "name": "Reviews"})
    sentence = _explained_sentence(client, text, {"c0": "Perfect and fast, I love it."})
    assert sentence.startswith("More likely than average to be positive mainly because of ")

    spent = forest.cost_charged + text.cost_charged
    predicted = sum(job.cost_charged for job in PredictionJob.objects.filter(owner=trainer))
    assert balance_of(user=trainer) == CREDITS - spent - predicted
