import io

import openpyxl
import pytest
from django.urls import reverse

from predictions import services
from predictions.models import MLModel
from tests.factories import UserFactory, issue_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(tiny_models):
    return services.register_manifest(folder=tiny_models)


def test_catalog_lists_published_models_with_price_and_headline(client, catalog):
    response = client.get(reverse("predictions:catalog"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "tiny-price (en)" in page
    assert "tiny-class (en)" in page
    assert "2 credits" in page
    assert "R²" in page
    assert "0.900" in page


def test_unpublished_models_are_not_in_the_catalog(client, api_client, catalog):
    model = MLModel.objects.get(slug="tiny-class")
    services.model_publish(model=model, published=False)
    assert "tiny-class" not in client.get(reverse("predictions:catalog")).content.decode()
    assert client.get(reverse("predictions:model", args=["tiny-class"])).status_code == 404
    key = issue_token(UserFactory())
    hidden = api_client.get("/api/v1/models/tiny-class/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert hidden.status_code == 404


def test_model_page_shows_the_field_dictionary_price_and_plot(client, catalog):
    response = client.get(reverse("predictions:model", args=["tiny-price"]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<code>Mileage</code>" in page
    assert "Miles" in page
    assert "Buick, Pontiac, Saab" in page
    assert reverse("predictions:plot", args=["tiny-price"]) in page
    assert reverse("predictions:template", args=["tiny-price"]) in page


def test_model_page_in_russian_describes_fields_in_russian(client, catalog):
    client.post(reverse("set_language"), {"language": "ru", "next": "/"})
    page = client.get(reverse("predictions:model", args=["tiny-price"])).content.decode()
    assert "tiny-price (ru)" in page
    assert "Мили" in page


def test_plot_is_an_svg_that_can_run_nothing(client, catalog):
    response = client.get(reverse("predictions:plot", args=["tiny-price"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "default-src 'none'" in response["Content-Security-Policy"]


def test_excel_template_has_header_dropdown_and_example(client, catalog):
    response = client.get(reverse("predictions:template", args=["tiny-price"]))
    assert response.status_code == 200
    assert "tiny-price-template.xlsx" in response["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = workbook.worksheets[0]
    assert [cell.value for cell in sheet[1]] == ["Mileage", "Make"]
    assert sheet.cell(row=2, column=2).value in ("Buick", "Pontiac", "Saab")
    assert any(validation.type == "list" for validation in sheet.data_validations.dataValidation)


def test_unknown_model_is_404(client, catalog):
    assert client.get(reverse("predictions:model", args=["nope"])).status_code == 404


def test_api_lists_the_catalog(api_client, catalog):
    key = issue_token(UserFactory())
    response = api_client.get("/api/v1/models/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    by_slug = {item["slug"]: item for item in body["results"]}
    assert by_slug["tiny-price"]["price_per_row"] == 2
    assert by_slug["tiny-price"]["headline_metric"] == {"name": "r2", "value": 0.9}


def test_api_model_detail_has_schema_price_and_metrics(api_client, catalog):
    key = issue_token(UserFactory())
    response = api_client.get(
        "/api/v1/models/tiny-class/", HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_ACCEPT_LANGUAGE="ru"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "tiny-class (ru)"
    assert body["classes"] == ["cheap", "dear"]
    assert [column["name"] for column in body["schema"]] == ["Mileage", "Make"]
    assert body["schema"][0]["description"] == "Мили"
    assert body["metrics"]["r2"] == 0.9
    missing = api_client.get("/api/v1/models/nope/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
