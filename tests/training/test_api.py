"""The own-models API, its rules and refusals, with trainings and predictions run in-process
by the same service functions the worker calls (tests/training/test_worker.py runs them on a
real Celery worker)."""

import math
import threading
import time
from datetime import timedelta

import numpy as np
import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from billing import services as billing
from billing.models import CreditAccount, LedgerEntry
from mfdp import housekeeping
from mfdp.errors import InvalidInput
from predictions import services as predictions
from predictions.models import MLModel
from tests.factories import UserFactory, issue_token
from training import services
from training.models import Dataset, TrainingJob

from .conftest import CREDITS, car_frame, csv_upload, review_frame

pytestmark = pytest.mark.django_db

DATASETS = reverse("api-datasets")
TRAININGS = reverse("api-trainings")
QUOTE = reverse("api-training-quote")
PREDICTIONS = reverse("api-predictions")


def _balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def _dataset(api, frame, target: str, **extra) -> dict:
    response = api.post(
        DATASETS,
        {"file": csv_upload(frame), "target": target, "confirm": "true", **extra},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    services.compute_profile(dataset_id=response.json()["id"])
    return response.json()


def _trained(api, dataset_id: str, algorithm: str, params=None, **extra) -> dict:
    response = api.post(
        TRAININGS,
        {"dataset": dataset_id, "algorithm": algorithm, "params": params or {}, **extra},
        format="json",
    )
    assert response.status_code == 201, response.json()
    services.run_training(job_id=response.json()["id"])
    return api.get(reverse("api-training", args=[response.json()["id"]])).json()


def test_upload_suggests_a_schema_and_the_exploration_follows(api):
    created = _dataset(api, car_frame(), "Price")
    detail = api.get(reverse("api-dataset", args=[created["id"]])).json()

    assert detail["rows"] == 300
    assert detail["schema"]["task"] == "regression"
    types = {column["name"]: column["type"] for column in detail["schema"]["columns"]}
    assert types == {
        "Mileage": "integer",
        "Year": "integer",
        "Make": "category",
        "Cruise": "boolean",
    }
    assert detail["exploration"]["status"] == "ready"
    profile = detail["exploration"]["profile"]
    assert profile["rows"] == 300
    assert {column["name"] for column in profile["columns"]} == set(types)


def test_revising_the_schema_asks_for_confirmation_again(api):
    created = _dataset(api, car_frame(), "Price")
    url = reverse("api-dataset-schema", args=[created["id"]])

    revised = api.post(url, {"types": {"Year": "category"}, "ignored": ["Cruise"]}, format="json")

    assert revised.status_code == 200
    body = revised.json()
    assert body["confirmed"] is False
    assert body["schema"]["ignored"] == ["Cruise"]
    assert {c["name"]: c["type"] for c in body["schema"]["columns"]}["Year"] == "category"
    not_yet = api.post(TRAININGS, {"dataset": created["id"], "algorithm": "ridge"}, format="json")
    assert not_yet.status_code == 400
    assert not_yet.json()["code"] == "dataset_not_confirmed"


def test_a_regression_is_trained_charged_and_predicts_with_an_explanation(api, trainer):
    dataset = _dataset(api, car_frame(), "Price")
    quote = api.post(
        QUOTE,
        {"dataset": dataset["id"], "algorithm": "ridge", "params": {"alpha": 0.5}},
        format="json",
    ).json()

    training = _trained(api, dataset["id"], "ridge", {"alpha": 0.5}, name="Car prices")

    assert training["status"] == "succeeded", training["error"]
    assert training["cost"] == quote["cost"] > 0
    assert training["refund"] == 0
    assert _balance(trainer) == CREDITS - quote["cost"]
    assert training["model"]["metrics"]["r2"] > 0.9
    slug = training["model"]["slug"]
    mine = api.get(reverse("api-models"), {"mine": "true"}).json()["results"]
    assert [model["slug"] for model in mine] == [slug]
    assert slug not in [m["slug"] for m in api.get(reverse("api-models")).json()["results"]]

    row = {"Mileage": 20_000, "Year": 2006, "Make": "Saab", "Cruise": "yes"}
    job = api.post(PREDICTIONS, {"model": slug, "input": row, "explain": True}, format="json")
    assert job.status_code == 202, job.json()
    predictions.run_job(job_id=job.json()["id"])
    output = api.get(reverse("api-prediction", args=[job.json()["id"]])).json()["output"]

    explanation = output["explanation"]
    total = explanation["base_value"] + sum(c["contribution"] for c in explanation["contributions"])
    assert math.isclose(total, explanation["output_value"], abs_tol=1e-6)
    assert math.isclose(explanation["output_value"], output["prediction"], abs_tol=1e-4)
    assert {c["feature"] for c in explanation["contributions"]} >= {"Mileage", "Year", "Make"}


def test_a_text_classifier_explains_with_token_weights(api):
    dataset = _dataset(api, review_frame(), "Sentiment")
    assert dataset["schema"]["task"] == "classification"

    training = _trained(api, dataset["id"], "tfidf_logistic_regression", {"min_df": 1})

    assert training["status"] == "succeeded", training["error"]
    metrics = training["model"]["metrics"]
    assert metrics["accuracy"] > 0.9
    job = api.post(
        PREDICTIONS,
        {
            "model": training["model"]["slug"],
            "input": {"Review": "Great phone, I love it, perfect battery."},
            "explain": True,
        },
        format="json",
    ).json()
    predictions.run_job(job_id=job["id"])
    output = api.get(reverse("api-prediction", args=[job["id"]])).json()["output"]

    assert output["prediction"] == "positive"
    explanation = output["explanation"]
    assert explanation["method"] == "token_weights"
    tokens = {c["token"] for c in explanation["contributions"] if c["token"]}
    assert {"great", "love"} <= tokens
    total = explanation["base_value"] + sum(c["contribution"] for c in explanation["contributions"])
    assert math.isclose(total, explanation["output_value"], abs_tol=1e-6)
    probability = output[f"probability {explanation['explained_class']}"]
    log_odds = math.log(probability / (1 - probability))
    assert math.isclose(explanation["output_value"], log_odds, abs_tol=1e-4)


def test_same_data_parameters_and_seed_give_the_same_metrics(api):
    dataset = _dataset(api, car_frame(), "Price")
    params = {"n_estimators": 20, "max_depth": 6}

    first = _trained(api, dataset["id"], "random_forest_regression", params)
    second = _trained(api, dataset["id"], "random_forest_regression", params)

    assert first["status"] == second["status"] == "succeeded"
    assert first["model"]["metrics"] == second["model"]["metrics"]
    assert first["model"]["slug"] != second["model"]["slug"]


def test_retraining_adds_a_version_and_versions_can_be_compared(api):
    dataset = _dataset(api, car_frame(), "Price")
    first = _trained(api, dataset["id"], "ridge")
    slug = first["model"]["slug"]
    second = _trained(
        api, dataset["id"], "random_forest_regression", {"n_estimators": 20}, model=slug
    )

    assert second["model"]["slug"] == slug
    assert second["model"]["version"] == 2
    versions = api.get(reverse("api-model-versions", args=[slug])).json()["versions"]
    assert [(v["version"], v["active"]) for v in versions] == [(2, True), (1, False)]
    activated = api.post(reverse("api-model-version-activate", args=[slug, 1]))
    assert activated.json()["active"] is True

    comparison = api.post(
        reverse("api-compare"),
        {"versions": [first["model"]["version_id"], second["model"]["version_id"]]},
        format="json",
    ).json()
    r2 = next(row for row in comparison["metrics"] if row["name"] == "r2")
    assert r2["best"] == int(np.argmax(r2["values"]))
    assert all(v["curves"]["predicted_vs_actual"]["actual"] for v in comparison["versions"])


def test_versions_of_different_targets_are_not_compared(api):
    cars = _trained(api, _dataset(api, car_frame(), "Price")["id"], "ridge")
    reviews = _trained(api, _dataset(api, review_frame(), "Sentiment")["id"], "tfidf_naive_bayes")
    response = api.post(
        reverse("api-compare"),
        {"versions": [cars["model"]["version_id"], reviews["model"]["version_id"]]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "compare_different_targets"


def test_a_deleted_model_leaves_the_lists_and_stops_predicting_but_its_jobs_stay(api, trainer):
    training = _trained(api, _dataset(api, car_frame(), "Price")["id"], "ridge")
    slug = training["model"]["slug"]
    row = {"Mileage": 20_000, "Year": 2006, "Make": "Saab", "Cruise": "yes"}
    job = api.post(PREDICTIONS, {"model": slug, "input": row}, format="json").json()
    predictions.run_job(job_id=job["id"])

    assert api.delete(reverse("api-model", args=[slug])).status_code == 204

    assert api.get(reverse("api-models"), {"mine": "true"}).json()["results"] == []
    refused = api.post(PREDICTIONS, {"model": slug, "input": row}, format="json")
    assert refused.status_code == 400
    assert api.get(reverse("api-prediction", args=[job["id"]])).status_code == 200
    assert MLModel.objects.get(slug=slug).deleted_at is not None


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("frame", "target", "code"),
    [
        (car_frame(), "Cost", "no_target"),
        (car_frame().assign(Price=100.0), "Price", "constant_target"),
        (review_frame().assign(Sentiment="positive"), "Sentiment", "single_class"),
        (car_frame(rows=12), "Price", "too_few_rows"),
    ],
    ids=["no-target", "constant-target", "single-class", "too-few-rows"],
)
def test_bad_datasets_get_a_clear_error_store_nothing_and_cost_nothing(
    api, trainer, frame, target, code
):
    response = api.post(DATASETS, {"file": csv_upload(frame), "target": target}, format="multipart")

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not Dataset.objects.exists()
    assert _balance(trainer) == CREDITS


def test_free_text_cannot_be_the_target(api, trainer):
    response = api.post(
        DATASETS, {"file": csv_upload(review_frame()), "target": "Review"}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "text_target"
    assert not Dataset.objects.exists()


def test_a_category_target_cannot_be_learnt_by_regression(api):
    created = _dataset(api, review_frame(), "Sentiment")
    response = api.post(
        reverse("api-dataset-schema", args=[created["id"]]), {"task": "regression"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "text_target"


def test_an_all_empty_column_is_left_out_and_cannot_be_used(api):
    frame = car_frame().assign(Notes=None)
    created = _dataset(api, frame, "Price")
    assert "Notes" in created["schema"]["ignored"]

    response = api.post(
        reverse("api-dataset-schema", args=[created["id"]]), {"ignored": []}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "empty_column"


def test_out_of_range_hyperparameters_are_refused_before_any_charge(api, trainer):
    dataset = _dataset(api, car_frame(), "Price")

    response = api.post(
        TRAININGS,
        {
            "dataset": dataset["id"],
            "algorithm": "random_forest_regression",
            "params": {"n_estimators": 100_000, "max_depth": "deep", "colour": 1},
        },
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_hyperparameters"
    assert {p["name"] for p in body["problems"]} == {"n_estimators", "max_depth", "colour"}
    assert not TrainingJob.objects.exists()
    assert _balance(trainer) == CREDITS


def test_an_algorithm_for_another_task_is_refused(api):
    dataset = _dataset(api, car_frame(), "Price")
    response = api.post(
        TRAININGS, {"dataset": dataset["id"], "algorithm": "logistic_regression"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "algorithm_task_mismatch"


def test_without_enough_credits_nothing_is_created(api, trainer):
    dataset = _dataset(api, car_frame(), "Price")
    price = api.post(QUOTE, {"dataset": dataset["id"], "algorithm": "ridge"}).json()["cost"]
    billing.adjust(user=trainer, amount=-(CREDITS - price + 1), memo="spend", actor=trainer)

    response = api.post(TRAININGS, {"dataset": dataset["id"], "algorithm": "ridge"}, format="json")

    assert response.status_code == 402
    assert not TrainingJob.objects.exists()


def test_canceling_a_queued_training_refunds_it(api, trainer):
    dataset = _dataset(api, car_frame(), "Price")
    created = api.post(
        TRAININGS, {"dataset": dataset["id"], "algorithm": "ridge"}, format="json"
    ).json()

    canceled = api.post(reverse("api-training-cancel", args=[created["id"]]))

    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["refund"] == created["cost"]
    assert _balance(trainer) == CREDITS
    again = api.post(reverse("api-training-cancel", args=[created["id"]]))
    assert again.status_code == 409


def test_another_customers_dataset_training_and_model_answer_404(api, api_client):
    dataset = _dataset(api, car_frame(), "Price")
    training = _trained(api, dataset["id"], "ridge")
    other = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(other)}")
    slug = training["model"]["slug"]

    for url in (
        reverse("api-dataset", args=[dataset["id"]]),
        reverse("api-training", args=[training["id"]]),
        reverse("api-model", args=[slug]),
        reverse("api-model-versions", args=[slug]),
    ):
        assert api_client.get(url).status_code == 404, url
    assert api_client.delete(reverse("api-model", args=[slug])).status_code == 404
    stolen = api_client.post(
        TRAININGS, {"dataset": dataset["id"], "algorithm": "ridge"}, format="json"
    )
    assert stolen.status_code == 404
    predicted = api_client.post(
        PREDICTIONS, {"model": slug, "input": {"Mileage": 1}}, format="json"
    )
    assert predicted.status_code == 400
    compared = api_client.post(
        reverse("api-compare"),
        {"versions": [training["model"]["version_id"], training["model"]["version_id"] + 1]},
        format="json",
    )
    assert compared.status_code == 404


def test_algorithms_declare_their_hyperparameters_and_prices(api):
    algorithms = {a["name"]: a for a in api.get(reverse("api-algorithms")).json()}
    assert len(algorithms) == 10
    forest = algorithms["random_forest_regression"]
    assert forest["task"] == "regression"
    n_estimators = next(p for p in forest["hyperparameters"] if p["name"] == "n_estimators")
    assert n_estimators["minimum"] <= n_estimators["default"] <= n_estimators["maximum"]


def test_the_ledger_names_the_training(api, trainer):
    training = _trained(api, _dataset(api, car_frame(), "Price")["id"], "ridge")
    charge = LedgerEntry.objects.get(reference=f"training:{training['id']}:charge")
    assert charge.amount == -training["cost"]


SMALL = {"n_estimators": 10, "max_iter": 20}


@pytest.mark.parametrize(
    "algorithm",
    [
        "linear_regression",
        "ridge",
        "random_forest_regression",
        "hist_gradient_boosting_regression",
        "logistic_regression",
        "random_forest_classification",
        "hist_gradient_boosting_classification",
        "tfidf_logistic_regression",
        "tfidf_linear_svm",
        "tfidf_naive_bayes",
    ],
)
def test_every_algorithm_trains_a_model_that_predicts_and_explains(api, algorithm):
    """The registry loads each trained file under its trusted-types list, and the model
    answers a one-row prediction with contributions that add up."""
    catalog = {a["name"]: a for a in api.get(reverse("api-algorithms")).json()}
    declared = {p["name"] for p in catalog[algorithm]["hyperparameters"]}
    if catalog[algorithm]["family"] == "text":
        frame, target, row = review_frame(), "Sentiment", {"Review": "great and fast"}
    elif catalog[algorithm]["task"] == "regression":
        frame, target = car_frame(), "Price"
        row = {"Mileage": 5_000, "Year": 2004, "Make": "Buick", "Cruise": "no"}
    else:
        frame, target = (
            car_frame().assign(Price=lambda f: np.where(f.Price > 24_000, "high", "low")),
            "Price",
        )
        row = {"Mileage": 5_000, "Year": 2004, "Make": "Buick", "Cruise": "no"}
    dataset = _dataset(api, frame, target)
    params = {name: value for name, value in SMALL.items() if name in declared}

    training = _trained(api, dataset["id"], algorithm, params)

    assert training["status"] == "succeeded", training["error"]
    job = api.post(
        PREDICTIONS,
        {"model": training["model"]["slug"], "input": row, "explain": True},
        format="json",
    ).json()
    predictions.run_job(job_id=job["id"])
    answered = api.get(reverse("api-prediction", args=[job["id"]])).json()
    assert answered["status"] == "succeeded", answered["error"]
    explanation = answered["output"]["explanation"]
    total = explanation["base_value"] + sum(c["contribution"] for c in explanation["contributions"])
    assert math.isclose(total, explanation["output_value"], abs_tol=1e-6)


def test_the_reaper_fails_and_refunds_a_training_whose_worker_went_silent(api, trainer):
    dataset = _dataset(api, car_frame(), "Price")
    created = api.post(
        TRAININGS, {"dataset": dataset["id"], "algorithm": "ridge"}, format="json"
    ).json()
    TrainingJob.objects.filter(pk=created["id"]).update(
        status="running", heartbeat_at=timezone.now() - timedelta(hours=1)
    )

    assert "1 training(s)" in housekeeping.reap_silent_jobs()

    job = TrainingJob.objects.get(pk=created["id"])
    assert (job.status, job.error_code, job.credits_refunded) == (
        "failed",
        "worker_lost",
        job.cost_charged,
    )
    assert _balance(trainer) == CREDITS


def test_staff_cancel_a_training_from_the_admin_and_it_is_logged(api, trainer, client):
    dataset = _dataset(api, car_frame(), "Price")
    created = api.post(
        TRAININGS, {"dataset": dataset["id"], "algorithm": "ridge"}, format="json"
    ).json()
    staff = User.objects.create_superuser(email="ops@example.com", password="x" * 12)
    client.force_login(staff)

    client.post(
        reverse("admin:training_trainingjob_changelist"),
        {"action": "cancel_trainings", "_selected_action": [created["id"]]},
    )

    assert TrainingJob.objects.get(pk=created["id"]).status == "canceled"
    assert _balance(trainer) == CREDITS
    assert LogEntry.objects.filter(user=staff, object_id=created["id"]).exists()


def test_staff_publish_a_customers_model_to_the_catalog(api, client):
    training = _trained(api, _dataset(api, car_frame(), "Price")["id"], "ridge")
    slug = training["model"]["slug"]
    staff = User.objects.create_superuser(email="ops@example.com", password="x" * 12)
    client.force_login(staff)

    client.post(
        reverse("admin:predictions_mlmodel_changelist"),
        {"action": "publish", "_selected_action": [MLModel.objects.get(slug=slug).pk]},
    )

    assert slug in [m["slug"] for m in api.get(reverse("api-models")).json()["results"]]


def test_multiclass_versions_are_compared_on_one_class_against_the_rest(api):
    frame = car_frame().assign(
        Price=lambda f: np.select([f.Price < 18_000, f.Price < 26_000], ["low", "mid"], "high")
    )
    dataset = _dataset(api, frame, "Price")
    first = _trained(api, dataset["id"], "logistic_regression")
    second = _trained(api, dataset["id"], "random_forest_classification", {"n_estimators": 10})

    comparison = api.post(
        reverse("api-compare"),
        {"versions": [first["model"]["version_id"], second["model"]["version_id"]]},
        format="json",
    ).json()

    assert comparison["task"] == "classification"
    rocs = [version["curves"]["roc"] for version in comparison["versions"]]
    assert [roc["class"] for roc in rocs] == ["high", "high"]
    assert all(len(roc["fpr"]) == len(roc["tpr"]) > 2 for roc in rocs)
    names = [row["name"] for row in comparison["metrics"]]
    assert names == ["accuracy", "f1", "roc_auc", "log_loss"]


def test_a_huge_integer_hyperparameter_is_refused_not_an_error(api, trainer):
    dataset = _dataset(api, car_frame(), "Price")
    response = api.post(
        TRAININGS,
        {
            "dataset": dataset["id"],
            "algorithm": "random_forest_regression",
            "params": {"n_estimators": 10**400},
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["problems"][0]["code"] == "maximum"
    assert _balance(trainer) == CREDITS


@pytest.mark.django_db(transaction=True)
def test_a_training_the_reaper_ended_meanwhile_delivers_nothing(api, trainer):
    dataset = _dataset(api, car_frame(rows=5_000), "Price")
    created = api.post(
        TRAININGS,
        {
            "dataset": dataset["id"],
            "algorithm": "random_forest_regression",
            "params": {"n_estimators": 200},
        },
        format="json",
    ).json()

    def run() -> None:
        try:
            services.run_training(job_id=created["id"])
        finally:
            connection.close()  # this thread's own connection, before the database is dropped

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while not TrainingJob.objects.filter(pk=created["id"], stage="fit").exists():
        assert time.monotonic() < deadline, "the fit never started"
        time.sleep(0.05)

    # The reaper judges the worker lost while it fits, and refunds the training.
    assert services.fail_silent_trainings(silence=timedelta(0)) == 1
    worker.join(timeout=120)

    job = TrainingJob.objects.get(pk=created["id"])
    assert (job.status, job.error_code, job.version) == ("failed", "worker_lost", None)
    assert not MLModel.objects.filter(owner=trainer).exists()
    assert _balance(trainer) == CREDITS


def test_retraining_a_model_deleted_meanwhile_is_refunded(api, trainer):
    dataset = _dataset(api, car_frame(), "Price")
    slug = _trained(api, dataset["id"], "ridge")["model"]["slug"]
    created = api.post(
        TRAININGS, {"dataset": dataset["id"], "algorithm": "ridge", "model": slug}, format="json"
    ).json()
    api.delete(reverse("api-model", args=[slug]))
    before = _balance(trainer)

    services.run_training(job_id=created["id"])

    job = TrainingJob.objects.get(pk=created["id"])
    assert (job.status, job.error_code) == ("failed", "model_deleted")
    assert _balance(trainer) == before + job.cost_charged
    assert MLModel.objects.get(slug=slug).versions.count() == 1


def test_retraining_on_another_target_is_refused(api):
    cars = _dataset(api, car_frame(), "Price")
    slug = _trained(api, cars["id"], "ridge")["model"]["slug"]
    years = _dataset(
        api, car_frame().drop(columns="Price").assign(Mileage=lambda f: f.Mileage * 1.5), "Mileage"
    )

    response = api.post(
        TRAININGS, {"dataset": years["id"], "algorithm": "ridge", "model": slug}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "model_task_mismatch"


def test_another_customer_compares_a_published_model_without_its_data(api, api_client):
    training = _trained(api, _dataset(api, car_frame(), "Price")["id"], "ridge")
    other = _trained(api, _dataset(api, car_frame(seed=9), "Price")["id"], "ridge")
    MLModel.objects.filter(slug=training["model"]["slug"]).update(is_published=True)
    stranger = UserFactory()
    billing.grant(user=stranger, amount=CREDITS, memo="test", actor=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(stranger)}")
    theirs = _trained(api_client, _dataset(api_client, car_frame(), "Price")["id"], "ridge")

    comparison = api_client.post(
        reverse("api-compare"),
        {"versions": [training["model"]["version_id"], theirs["model"]["version_id"]]},
        format="json",
    ).json()
    assert comparison["versions"][0]["curves"] == {}
    assert comparison["versions"][1]["curves"]["predicted_vs_actual"]["actual"]
    refused = api_client.post(
        reverse("api-compare"),
        {"versions": [other["model"]["version_id"], theirs["model"]["version_id"]]},
        format="json",
    )
    assert refused.status_code == 404


def test_a_confirmation_at_another_price_than_quoted_is_refused(api, trainer):
    dataset = Dataset.objects.get(pk=_dataset(api, car_frame(), "Price")["id"])
    quote = services.training_quote(user=trainer, dataset=dataset, algorithm="ridge")

    with pytest.raises(InvalidInput) as refused:
        services.training_submit(
            user=trainer, dataset=dataset, algorithm="ridge", quoted_cost=quote.cost - 1
        )

    assert refused.value.code == "price_changed"
    assert not TrainingJob.objects.exists()
    assert _balance(trainer) == CREDITS


def test_version_ids_no_database_integer_holds_are_404(api):
    slug = _trained(api, _dataset(api, car_frame(), "Price")["id"], "ridge")["model"]["slug"]
    huge = 10**20
    compared = api.post(reverse("api-compare"), {"versions": [huge, huge - 1]}, format="json")
    activated = api.post(reverse("api-model-version-activate", args=[slug, huge]))
    assert (compared.status_code, compared.json()["code"]) == (404, "not_found")
    assert (activated.status_code, activated.json()["code"]) == (404, "not_found")
