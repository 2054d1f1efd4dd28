import json

import pytest
import skops.io
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from sklearn.preprocessing import FunctionTransformer

from mfdp.errors import InvalidInput
from predictions import services
from predictions.models import MLModel, ModelVersion
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(tiny_models):
    return services.register_manifest(folder=tiny_models)


def _upload(path, name="model.skops"):
    return SimpleUploadedFile(name, path.read_bytes())


def test_the_manifest_registers_published_models_idempotently(catalog, tiny_models):
    assert {version.model.slug for version in catalog} == {"tiny-price", "tiny-class"}
    again = services.register_manifest(folder=tiny_models)
    assert sorted(v.pk for v in again) == sorted(v.pk for v in catalog)
    assert ModelVersion.objects.count() == 2
    model = MLModel.objects.get(slug="tiny-class")
    assert model.is_published
    assert model.default_version.classes == ["cheap", "dear"]
    assert model.default_version.artifact.storage.exists(model.default_version.artifact.name)


def test_the_same_version_with_other_bytes_is_refused(catalog, tiny_models, tmp_path):
    manifest = json.loads((tiny_models / "manifest.json").read_text())
    manifest["models"][0]["sha256"] = "0" * 64
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(services.ModelVersionRefused) as caught:
        services.register_manifest(folder=tmp_path)
    assert caught.value.code == "version_conflict"


def test_a_new_version_is_checked_and_numbered(catalog, tiny_models):
    model = MLModel.objects.get(slug="tiny-price")
    version = services.version_create(
        model=model,
        artifact=_upload(tiny_models / "tiny-price-v1.skops"),
        schema=model.default_version.schema,
        target="Price",
        price_per_row=5,
    )
    assert version.number == 2
    assert version.sha256 == model.default_version.sha256


def test_a_file_made_here_with_an_untrusted_type_is_refused(catalog, tmp_path):
    """A training's own file skips the child process, never the trusted-types list."""
    path = tmp_path / "made-here.skops"
    skops.io.dump(FunctionTransformer(json.dumps), path)
    model = MLModel.objects.get(slug="tiny-price")
    with pytest.raises(services.ModelVersionRefused) as caught:
        services.version_create(
            model=model,
            artifact=_upload(path),
            schema=model.default_version.schema,
            target="Price",
            price_per_row=1,
            made_here=True,
        )
    assert caught.value.code == "untrusted_types"
    assert model.versions.count() == 1


def test_a_pickle_file_never_enters_the_registry(catalog, pickled_model):
    model = MLModel.objects.get(slug="tiny-price")
    with pytest.raises(services.ModelVersionRefused) as caught:
        services.version_create(
            model=model,
            artifact=_upload(pickled_model, "model.pkl"),
            schema=model.default_version.schema,
            target="Price",
            price_per_row=1,
        )
    assert caught.value.code == "pickle_refused"
    assert model.versions.count() == 1


@pytest.mark.parametrize(
    ("payload", "code"),
    [(b"not a model at all", "not_skops"), (b"PK\x03\x04garbage", "broken_artifact")],
)
def test_a_broken_file_never_enters_the_registry(catalog, payload, code):
    model = MLModel.objects.get(slug="tiny-price")
    with pytest.raises(services.ModelVersionRefused) as caught:
        services.version_create(
            model=model,
            artifact=SimpleUploadedFile("m.skops", payload),
            schema=model.default_version.schema,
            target="Price",
            price_per_row=1,
        )
    assert caught.value.code == code


def test_a_file_that_cannot_read_its_schema_is_refused(catalog, tiny_models):
    model = MLModel.objects.get(slug="tiny-price")
    schema = {
        "columns": [{"name": "Colour", "type": "category", "categories": ["red"], "example": "red"}]
    }
    with pytest.raises(services.ModelVersionRefused) as caught:
        services.version_create(
            model=model,
            artifact=_upload(tiny_models / "tiny-price-v1.skops"),
            schema=schema,
            target="Price",
            price_per_row=1,
        )
    assert caught.value.code == "cannot_predict"


def test_deactivating_the_default_hands_over_to_the_newest_active(catalog, tiny_models):
    model = MLModel.objects.get(slug="tiny-price")
    first = model.default_version
    second = services.version_create(
        model=model,
        artifact=_upload(tiny_models / "tiny-price-v1.skops"),
        schema=first.schema,
        target="Price",
        price_per_row=3,
    )
    services.version_update(version=first, price_per_row=1, is_active=False)
    model.refresh_from_db()
    assert model.default_version == second
    services.version_update(version=second, price_per_row=3, is_active=False)
    model.refresh_from_db()
    assert model.default_version is None
    with pytest.raises(InvalidInput):
        services.model_publish(model=model, published=True)


# The admin door


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _admin_upload(staff_client, model, path, **overrides):
    data = {
        "model": model.pk,
        "artifact": _upload(path, path.name),
        "schema": json.dumps(model.default_version.schema),
        "target": "Price",
        "classes": "",
        "metrics": "",
        "price_per_row": "4",
    }
    data.update(overrides)
    return staff_client.post(reverse("admin:predictions_modelversion_add"), data)


def test_staff_upload_a_version_in_the_admin(catalog, staff_client, tiny_models):
    model = MLModel.objects.get(slug="tiny-price")
    response = _admin_upload(staff_client, model, tiny_models / "tiny-price-v1.skops")
    assert response.status_code == 302
    assert model.versions.filter(number=2, price_per_row=4).exists()


def test_the_admin_refuses_a_pickle_with_a_message(catalog, staff_client, pickled_model):
    model = MLModel.objects.get(slug="tiny-price")
    response = _admin_upload(staff_client, model, pickled_model)
    assert response.status_code == 200
    assert "only skops files are accepted" in response.content.decode()
    assert model.versions.count() == 1


def test_the_admin_refuses_a_schema_that_is_not_json(catalog, staff_client, tiny_models):
    model = MLModel.objects.get(slug="tiny-price")
    response = _admin_upload(
        staff_client, model, tiny_models / "tiny-price-v1.skops", schema="{not json"
    )
    assert response.status_code == 200
    assert "Not valid JSON" in response.content.decode()


def test_staff_reprice_and_deactivate_but_never_delete(catalog, staff_client):
    version = ModelVersion.objects.get(model__slug="tiny-price")
    url = reverse("admin:predictions_modelversion_change", args=[version.pk])
    response = staff_client.post(url, {"price_per_row": "7", "is_active": ""})
    assert response.status_code == 302
    version.refresh_from_db()
    assert (version.price_per_row, version.is_active) == (7, False)
    delete = reverse("admin:predictions_modelversion_delete", args=[version.pk])
    assert staff_client.get(delete).status_code == 403


def test_customers_never_reach_the_registry_admin(client, catalog):
    client.force_login(UserFactory())
    response = client.get(reverse("admin:predictions_modelversion_add"))
    assert response.status_code == 302
