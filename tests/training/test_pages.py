"""The own-model pages through the test client: upload a table, revise and confirm its schema,
explore it, train a model (quote, confirm), follow the training, predict with an explanation,
manage versions and compare them. Workers' entry points run in-process (the Celery tasks call
exactly these services; tests/training/test_worker.py covers the real worker)."""

import random
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from billing import services as billing
from billing.selectors import balance_of
from predictions import services as prediction_services
from predictions import views as prediction_views
from predictions.models import MLModel, PredictionJob
from tests.factories import UserFactory
from training import services
from training.models import Dataset, TrainingJob

HTMX = {"HTTP_HX_REQUEST": "true"}
CREDITS = 200
MAKES = ("Buick", "Saab", "Pontiac")
WORDS = ("clean", "owner", "scratch", "tyres", "garage", "service", "leather", "roof", "dent")


def _car_csv(rows: int = 120, *, constant_price: bool = False) -> bytes:
    """Price depends on mileage and year; a make, a free-text note and a listing number
    (one distinct value per row) come along."""
    generator = random.Random(7)
    lines = ["listing,mileage,year,doors,make,notes,price"]
    for index in range(rows):
        mileage = generator.randint(1_000, 60_000)
        year = generator.randint(1998, 2012)
        price = 20_000 - 0.2 * mileage + 700 * (year - 2000) + generator.gauss(0, 300)
        if constant_price:
            price = 10_000
        lines.append(
            f"{1000 + index},{mileage},{year},{generator.choice((2, 4))},"
            f"{generator.choice(MAKES)},{' '.join(generator.sample(WORDS, 4))},{price:.2f}"
        )
    return ("\n".join(lines) + "\n").encode()


def _upload(body: bytes, name: str = "cars.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, body, content_type="text/csv")


@pytest.fixture(autouse=True)
def _in_process(monkeypatch, settings, tmp_path):
    # Jobs run in-process here: the one-row view need not wait, files go to the test's folder.
    monkeypatch.setattr(prediction_views, "SINGLE_WAIT_SECONDS", 0)
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def customer(db):
    user = UserFactory()
    billing.grant(user=user, amount=CREDITS, memo="test credits", actor=None)
    return user


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer)
    return client


@pytest.fixture
def stranger_client(client, db):
    other = UserFactory()
    client.force_login(other)
    return client


def _confirmed_dataset(user) -> Dataset:
    dataset = services.dataset_upload(
        user=user, upload=_upload(_car_csv()), filename="cars.csv", target="price", name="Cars"
    )
    dataset = services.dataset_revise(dataset=dataset, ignored=["listing"])
    dataset = services.dataset_confirm(dataset=dataset)
    return services.compute_profile(dataset_id=dataset.pk)


def _trained(user, dataset: Dataset, *, algorithm="linear_regression", params=None, model=None):
    job = services.training_submit(
        user=user,
        dataset=dataset,
        algorithm=algorithm,
        params=params,
        name="Car prices",
        model=model,
    )
    return services.run_training(job_id=job.pk)


@pytest.fixture
def trained(customer):
    """A confirmed, explored dataset and a linear regression trained on it."""
    dataset = _confirmed_dataset(customer)
    job = _trained(customer, dataset)
    assert job.status == "succeeded", job.error
    return job


def _token(html: str) -> str:
    return re.search(r'name="quote" value="([^"]+)"', html).group(1)


# Upload, schema, exploration


@pytest.mark.django_db
def test_upload_revise_confirm_and_explore_the_dataset(customer_client, customer):
    response = customer_client.post(
        reverse("training:upload"),
        {"file": _upload(_car_csv()), "target": "price", "name": "My cars"},
    )
    dataset = Dataset.objects.get(owner=customer)
    assert response.status_code == 302
    assert response["Location"] == reverse("training:dataset", args=[dataset.pk])

    page = customer_client.get(response["Location"]).content.decode()
    assert 'data-testid="note-listing"' in page  # the identifier is pointed out
    assert 'data-testid="confirm"' in page
    schema = services.dataset_schema(dataset)
    names = [column.name for column in schema.columns]
    form = {"name": "My cars", "task": "regression"}
    for index, column in enumerate(schema.columns):
        form[f"type_{index}"] = column.type.value
    form[f"type_{names.index('doors')}"] = "category"
    form[f"ignore_{names.index('listing')}"] = "on"

    response = customer_client.post(reverse("training:revise", args=[dataset.pk]), form)
    assert response.status_code == 302
    dataset.refresh_from_db()
    revised = services.dataset_schema(dataset)
    assert revised.ignored == ("listing",)
    assert revised.features().column("doors").type == "category"

    response = customer_client.post(reverse("training:confirm", args=[dataset.pk]))
    assert response.status_code == 302
    page = customer_client.get(reverse("training:dataset", args=[dataset.pk])).content.decode()
    assert "<progress" in page
    assert "every 1s" in page

    services.compute_profile(dataset_id=dataset.pk)
    response = customer_client.get(
        reverse("training:dataset", args=[dataset.pk]), {"part": "exploration"}, **HTMX
    )
    part = response.content.decode()
    assert response.status_code == 200
    assert "every 1s" not in part
    assert "<progress" not in part
    assert part.count('role="img"') >= 6  # target, associations, and a chart per column
    assert "chart-histogram" in part
    assert "chart-bar" in part
    assert "<title>Distribution of the target</title>" in part
    assert 'data-testid="column-mileage"' in part
    assert 'data-testid="column-notes"' in part
    assert "Most frequent words" in part
    assert "120 rows can be learned from." in part
    # The associations chart lists mileage and year first: the price depends on them.
    associations = part.split('id="associations"')[1].split("</svg>")[0]
    labels = re.findall(
        r'text-anchor="end" font-size="12" fill="currentColor">([^<]+)<', associations
    )
    assert set(labels[:2]) == {"mileage", "year"}


@pytest.mark.django_db
def test_a_revision_the_data_cannot_honour_is_shown_in_the_form(customer_client, customer):
    dataset = services.dataset_upload(
        user=customer, upload=_upload(_car_csv()), filename="cars.csv", target="price"
    )
    schema = services.dataset_schema(dataset)
    names = [column.name for column in schema.columns]
    form = {"task": "regression", f"type_{names.index('make')}": "number"}

    response = customer_client.post(reverse("training:revise", args=[dataset.pk]), form)

    assert response.status_code == 400
    assert 'data-testid="schema-errors"' in response.content.decode()
    assert "make" in response.content.decode()
    dataset.refresh_from_db()
    assert services.dataset_schema(dataset).features().column("make").type == "category"


@pytest.mark.django_db
def test_an_upload_without_the_target_column_says_so_and_stores_nothing(customer_client, customer):
    response = customer_client.post(
        reverse("training:upload"), {"file": _upload(_car_csv()), "target": "cost"}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-target"' in html
    assert "cost" in html.split('data-testid="error-target"')[1].split("</small>")[0]
    assert not Dataset.objects.filter(owner=customer).exists()


@pytest.mark.django_db
def test_an_upload_with_a_constant_target_says_so_and_stores_nothing(customer_client, customer):
    response = customer_client.post(
        reverse("training:upload"),
        {"file": _upload(_car_csv(constant_price=True)), "target": "price"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "nothing to learn" in html.split('data-testid="error-target"')[1]
    assert not Dataset.objects.filter(owner=customer).exists()


@pytest.mark.django_db
def test_deleting_a_dataset_keeps_the_models_trained_on_it(customer_client, trained):
    response = customer_client.post(reverse("training:delete", args=[trained.dataset_id]))
    assert response.status_code == 302
    assert not Dataset.objects.filter(pk=trained.dataset_id).exists()
    page = customer_client.get(reverse("training:training", args=[trained.pk]))
    assert page.status_code == 200


# Training


@pytest.mark.django_db
def test_quote_confirm_run_and_read_a_training(customer_client, customer):
    dataset = _confirmed_dataset(customer)
    page = customer_client.get(reverse("training:dataset", args=[dataset.pk])).content.decode()
    assert 'value="linear_regression"' in page
    assert 'value="logistic_regression"' not in page  # only algorithms for this task
    assert 'name="p_fit_intercept"' in page

    response = customer_client.post(
        reverse("training:quote", args=[dataset.pk]),
        {"algorithm": "linear_regression", "p_fit_intercept": "on", "name": "Car prices"},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert '<td data-testid="cost">6</td>' in html  # 5 + 1 per started 1,000 rows
    assert f'<td data-testid="balance-after">{CREDITS - 6}</td>' in html
    assert balance_of(user=customer) == CREDITS  # a quote charges nothing

    response = customer_client.post(
        reverse("training:train", args=[dataset.pk]), {"quote": _token(html)}
    )
    job = TrainingJob.objects.get(owner=customer)
    assert response.status_code == 302
    assert response["Location"] == reverse("training:training", args=[job.pk])
    assert balance_of(user=customer) == CREDITS - 6
    page = customer_client.get(response["Location"], **HTMX).content.decode()
    assert "every 1s" in page
    assert "<progress" in page
    assert "Cancel the training" in page

    # The same quote confirmed twice trains once.
    customer_client.post(reverse("training:train", args=[dataset.pk]), {"quote": _token(html)})
    assert TrainingJob.objects.filter(owner=customer).count() == 1

    services.run_training(job_id=job.pk)
    response = customer_client.get(reverse("training:training", args=[job.pk]))
    html = response.content.decode()
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert "every 1s" not in html
    assert "R²" in html
    assert f"{job.version.metrics['r2']:.3f}" in html
    assert "chart-scatter" in html
    assert html.count("<circle") >= 20
    assert "chart-histogram" in html  # residuals
    assert "<title>Importance of each column</title>" in html
    assert "fit_intercept=True" in html
    assert job.dataset_sha256 in html
    assert "scikit-learn" in html
    assert reverse("predictions:model", args=[job.version.model.slug]) in html


@pytest.mark.django_db
def test_hyperparameter_fields_follow_the_chosen_algorithm(customer_client, customer):
    dataset = _confirmed_dataset(customer)
    response = customer_client.get(
        reverse("training:parameters", args=[dataset.pk]), {"algorithm": "ridge"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<fieldset id="parameters">')
    assert 'name="p_alpha"' in html
    assert 'min="0.0001"' in html
    assert 'max="10000"' in html
    assert 'name="p_fit_intercept"' not in html


@pytest.mark.django_db
def test_an_out_of_range_hyperparameter_is_shown_and_charges_nothing(customer_client, customer):
    dataset = _confirmed_dataset(customer)
    response = customer_client.post(
        reverse("training:quote", args=[dataset.pk]),
        {"algorithm": "ridge", "p_alpha": "50000", "name": "Too stiff"},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 400
    error = html.split('data-testid="error-p_alpha"')[1].split("</small>")[0]
    assert "10000" in error
    assert 'name="quote"' not in html
    assert balance_of(user=customer) == CREDITS
    assert not TrainingJob.objects.filter(owner=customer).exists()


@pytest.mark.django_db
def test_a_tampered_quote_trains_nothing(customer_client, customer):
    dataset = _confirmed_dataset(customer)
    response = customer_client.post(
        reverse("training:train", args=[dataset.pk]), {"quote": "forged"}
    )
    assert response.status_code == 302
    assert not TrainingJob.objects.exists()
    assert balance_of(user=customer) == CREDITS


@pytest.mark.django_db
def test_canceling_a_queued_training_refunds_it(customer_client, customer):
    dataset = _confirmed_dataset(customer)
    job = services.training_submit(user=customer, dataset=dataset, algorithm="linear_regression")

    response = customer_client.post(reverse("training:cancel", args=[job.pk]), **HTMX)

    assert response.status_code == 200
    assert 'data-testid="refunded">6<' in response.content.decode()
    assert balance_of(user=customer) == CREDITS


# Own models, versions, comparison


@pytest.mark.django_db
def test_model_page_lists_versions_and_makes_one_active(customer_client, customer, trained):
    model = trained.version.model
    retrained = _trained(customer, trained.dataset, algorithm="ridge", model=model)
    model.refresh_from_db()
    assert model.default_version == retrained.version

    page = customer_client.get(reverse("training:model", args=[model.slug])).content.decode()
    assert "v1" in page
    assert "v2" in page
    assert "ridge" in page
    assert f"?model={model.slug}" in page  # retrain on a dataset, model preselected

    response = customer_client.post(reverse("training:activate", args=[model.slug]), {"number": 1})
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.default_version == trained.version


@pytest.mark.django_db
def test_compare_two_versions_marks_the_best_and_overlays_them(customer_client, customer, trained):
    retrained = _trained(customer, trained.dataset, algorithm="ridge", params={"alpha": 500.0})
    first, second = trained.version, retrained.version

    response = customer_client.get(reverse("training:compare"), {"v": [first.pk, second.pk]})
    html = response.content.decode()
    assert response.status_code == 200
    table = html.split('data-testid="compare"')[1].split("</table>")[0]
    r2_row = table.split("</tr>")[1]
    best = first if first.metrics["r2"] >= second.metrics["r2"] else second
    assert f'<strong class="best">{best.metrics["r2"]:.3f}</strong>' in r2_row
    assert '<span class="visually-hidden">best</span>' in r2_row
    chart = html.split("chart-scatter")[1].split("</svg>")[0]
    assert chart.count('class="legend"') == 2  # one entry per version, on one chart
    assert "Car prices v1" in chart


@pytest.mark.django_db
def test_compare_needs_two_versions(customer_client, trained):
    response = customer_client.get(reverse("training:compare"), {"v": [trained.version.pk]})
    assert response.status_code == 400
    assert 'data-testid="compare-error"' in response.content.decode()


@pytest.mark.django_db
def test_deleting_a_model_is_soft(customer_client, trained):
    model = trained.version.model
    response = customer_client.post(reverse("training:delete-model", args=[model.slug]))
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.deleted_at is not None
    assert customer_client.get(reverse("training:model", args=[model.slug])).status_code == 404


# Explained predictions


@pytest.mark.django_db
def test_a_prediction_explained_on_the_model_page(customer_client, customer, trained):
    version = trained.version
    model_url = reverse("predictions:model", args=[version.model.slug])
    page = customer_client.get(model_url).content.decode()
    assert 'name="explain"' in page
    names = version.input_schema.names
    row = {
        "mileage": "55000",
        "year": "1999",
        "doors": "4",
        "make": "Saab",
        "notes": "clean garage roof",
    }
    form = {f"c{names.index(column)}": value for column, value in row.items() if column in names}
    form["explain"] = "on"

    response = customer_client.post(
        reverse("predictions:predict", args=[version.model.slug]), form, **HTMX
    )
    assert response.status_code == 200
    job = PredictionJob.objects.get(owner=customer)
    assert job.explain
    prediction_services.run_job(job_id=job.pk)

    html = customer_client.get(
        reverse("jobs:detail", args=[job.pk]), {"part": "outcome"}, **HTMX
    ).content.decode()
    sentence = re.search(r'data-testid="explanation-sentence">([^<]+)<', html).group(1)
    # An old car with a high mileage: cheaper than average, because of both.
    assert sentence.startswith("Lower than average mainly because of ")
    assert "mileage" in sentence
    assert "year" in sentence
    assert "<title>Contribution of each input to this prediction</title>" in html
    assert 'class="bar negative"' in html


# Another customer, wrong methods, languages


@pytest.mark.django_db
def test_another_customer_gets_404_everywhere(stranger_client, trained):
    model = trained.version.model
    for url in (
        reverse("training:dataset", args=[trained.dataset_id]),
        reverse("training:training", args=[trained.pk]),
        reverse("training:model", args=[model.slug]),
        reverse("predictions:model", args=[model.slug]),
    ):
        assert stranger_client.get(url).status_code == 404, url
    other = _trained(trained.owner, trained.dataset, algorithm="ridge")
    compare = stranger_client.get(
        reverse("training:compare"), {"v": [trained.version.pk, other.version.pk]}
    )
    assert compare.status_code == 404
    for url in (
        reverse("training:delete", args=[trained.dataset_id]),
        reverse("training:cancel", args=[trained.pk]),
        reverse("training:delete-model", args=[model.slug]),
    ):
        assert stranger_client.post(url).status_code == 404, url
    assert Dataset.objects.filter(pk=trained.dataset_id).exists()
    assert MLModel.objects.get(pk=model.pk).deleted_at is None


@pytest.mark.django_db
def test_writes_refuse_get_and_pages_need_a_login(customer_client, trained):
    confirm = reverse("training:confirm", args=[trained.dataset_id])
    assert customer_client.get(confirm).status_code == 405
    assert customer_client.get(reverse("training:cancel", args=[trained.pk])).status_code == 405
    response = Client().get(reverse("training:home"))
    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_pages_render_in_both_languages(client, customer, trained, language):
    client.force_login(customer)
    client.cookies["django_language"] = language
    model = trained.version.model
    for url in (
        reverse("training:home"),
        reverse("training:dataset", args=[trained.dataset_id]),
        reverse("training:training", args=[trained.pk]),
        reverse("training:model", args=[model.slug]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert f'<html lang="{language}"' in response.content.decode()
    dataset_page = client.get(reverse("training:dataset", args=[trained.dataset_id]))
    # Strings the catalog already translates, on the new pages.
    assert (">Строки<" if language == "ru" else ">Rows<") in dataset_page.content.decode()
    assert ("регрессия" if language == "ru" else "regression") in dataset_page.content.decode()


def _review_csv(rows: int = 120) -> bytes:
    generator = random.Random(11)
    good, bad = ("great", "love", "perfect", "fast"), ("awful", "broken", "slow", "refund")
    lines = ["review,sentiment"]
    for _ in range(rows):
        label = generator.choice(("positive", "negative"))
        mood = good if label == "positive" else bad
        words = [*generator.sample(WORDS, 4), *generator.sample(mood, 2)]
        generator.shuffle(words)
        lines.append(f"{' '.join(words)},{label}")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.django_db
def test_a_text_classifier_shows_classes_curves_and_an_explained_class(customer_client, customer):
    dataset = services.dataset_upload(
        user=customer, upload=_upload(_review_csv()), filename="reviews.csv", target="sentiment"
    )
    dataset = services.compute_profile(dataset_id=services.dataset_confirm(dataset=dataset).pk)
    page = customer_client.get(reverse("training:dataset", args=[dataset.pk])).content.decode()
    assert "<title>Rows per class</title>" in page
    assert "<title>Most frequent words in class positive</title>" in page
    assert "<title>Most frequent word pairs in class negative</title>" in page
    assert 'value="tfidf_logistic_regression"' in page
    assert 'value="linear_regression"' not in page

    job = _trained(customer, dataset, algorithm="tfidf_logistic_regression")
    html = customer_client.get(reverse("training:training", args=[job.pk])).content.decode()
    assert "<title>ROC curve on held-out data</title>" in html
    assert "<polyline" in html
    assert 'data-testid="confusion"' in html

    version = job.version
    form = {"c0": "perfect fast garage", "explain": "on"}
    customer_client.post(reverse("predictions:predict", args=[version.model.slug]), form)
    prediction = PredictionJob.objects.get(owner=customer)
    prediction_services.run_job(job_id=prediction.pk)
    html = customer_client.get(
        reverse("jobs:detail", args=[prediction.pk]), {"part": "outcome"}, **HTMX
    ).content.decode()
    sentence = re.search(r'data-testid="explanation-sentence">([^<]+)<', html).group(1)
    assert sentence.startswith("More likely than average to be positive mainly because of ")
    assert "“perfect” in review" in sentence
    assert "“fast” in review" in sentence


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["abc", "-1", "99999999999999999999", "1.5", ""])
def test_malformed_version_numbers_are_404_not_errors(customer_client, trained, value):
    slug = trained.version.model.slug
    activate = customer_client.post(reverse("training:activate", args=[slug]), {"number": value})
    compare = customer_client.get(reverse("training:compare"), {"v": [value, "1"]})
    assert activate.status_code == 404
    assert compare.status_code == 404
