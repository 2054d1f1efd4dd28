"""Own models on a real Celery worker: the exploration and the trainings run there, a
canceled training stops during its fit and is refunded, and the model predicts one row with
an explanation through the same worker."""

import math
import time

import pytest
from django.urls import reverse

from billing.models import CreditAccount
from training.models import TrainingJob

from .conftest import CREDITS, car_frame, csv_upload, review_frame

WAIT_SECONDS = 120  # a bound for the wait, not an expectation


def _until(read, done, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {WAIT_SECONDS} s: {value}")
        time.sleep(0.2)


def _dataset(api, frame, target: str) -> dict:
    created = api.post(
        reverse("api-datasets"),
        {"file": csv_upload(frame), "target": target, "confirm": "true"},
        format="multipart",
    )
    assert created.status_code == 201, created.json()
    url = reverse("api-dataset", args=[created.json()["id"]])
    return _until(
        lambda: api.get(url).json(),
        lambda body: body["exploration"]["status"] in {"ready", "failed"},
        "the exploration",
    )


def _finished_training(api, body: dict) -> dict:
    assert body.get("id"), body
    url = reverse("api-training", args=[body["id"]])
    return _until(
        lambda: api.get(url).json(),
        lambda job: job["status"] in {"succeeded", "failed", "canceled"},
        "the training",
    )


def _explained(api, slug: str, row: dict) -> dict:
    created = api.post(
        reverse("api-predictions"),
        {"model": slug, "input": row, "explain": True},
        format="json",
        HTTP_PREFER="wait=30",
    )
    assert created.status_code in (201, 202), created.json()
    url = reverse("api-prediction", args=[created.json()["id"]])
    job = _until(
        lambda: api.get(url).json(),
        lambda body: body["status"] not in {"queued", "running"},
        "the prediction",
    )
    assert job["status"] == "succeeded", job["error"]
    return job["output"]


@pytest.mark.django_db(transaction=True)
def test_a_regression_and_a_text_classifier_train_and_explain_on_the_worker(
    celery_worker, api, trainer
):
    cars = _dataset(api, car_frame(), "Price")
    assert cars["exploration"]["status"] == "ready", cars["exploration"]["error"]
    reviews = _dataset(api, review_frame(), "Sentiment")
    assert reviews["exploration"]["profile"]["target"]["task"] == "classification"

    forest = _finished_training(
        api,
        api.post(
            reverse("api-trainings"),
            {
                "dataset": cars["id"],
                "algorithm": "random_forest_regression",
                "params": {"n_estimators": 30, "max_depth": 8},
                "name": "Cars",
            },
            format="json",
        ).json(),
    )
    text = _finished_training(
        api,
        api.post(
            reverse("api-trainings"),
            {"dataset": reviews["id"], "algorithm": "tfidf_naive_bayes", "name": "Reviews"},
            format="json",
        ).json(),
    )
    assert forest["status"] == "succeeded", forest["error"]
    assert text["status"] == "succeeded", text["error"]
    assert forest["model"]["metrics"]["r2"] > 0.8

    output = _explained(
        api,
        forest["model"]["slug"],
        {"Mileage": 15_000, "Year": 2007, "Make": "Cadillac", "Cruise": "no"},
    )
    explanation = output["explanation"]
    assert explanation["method"] == "tree_shap"
    total = explanation["base_value"] + sum(c["contribution"] for c in explanation["contributions"])
    assert math.isclose(total, explanation["output_value"], abs_tol=1e-6)
    assert math.isclose(explanation["output_value"], output["prediction"], abs_tol=1e-4)

    review = _explained(api, text["model"]["slug"], {"Review": "Awful and slow, I hate it."})
    assert review["prediction"] == "negative"
    words = review["explanation"]
    total = words["base_value"] + sum(c["contribution"] for c in words["contributions"])
    assert math.isclose(total, words["output_value"], abs_tol=1e-6)
    predicted = api.get(reverse("api-predictions")).json()["results"]
    spent = forest["cost"] + text["cost"] + sum(job["cost"] for job in predicted)
    assert CreditAccount.objects.get(user=trainer).balance == CREDITS - spent


@pytest.mark.django_db(transaction=True)
def test_canceling_during_the_fit_stops_the_training_and_refunds_it(celery_worker, api, trainer):
    dataset = _dataset(api, car_frame(rows=20_000), "Price")
    created = api.post(
        reverse("api-trainings"),
        {
            "dataset": dataset["id"],
            "algorithm": "random_forest_regression",
            "params": {"n_estimators": 500, "max_depth": 30, "min_samples_leaf": 1},
        },
        format="json",
    ).json()
    url = reverse("api-training", args=[created["id"]])
    _until(lambda: api.get(url).json(), lambda job: job["stage"] == "fit", "the fit stage")

    assert api.post(reverse("api-training-cancel", args=[created["id"]])).status_code == 202
    finished = _finished_training(api, created)

    assert finished["status"] == "canceled"
    assert finished["refund"] == finished["cost"] == created["cost"]
    assert finished["model"] is None
    assert CreditAccount.objects.get(user=trainer).balance == CREDITS
    assert TrainingJob.objects.get(pk=created["id"]).version is None
