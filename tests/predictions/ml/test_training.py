"""Training the default models: reproducible, and the committed ml_artifacts/ are what the
manifest says they are. No database is needed."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.ensemble import RandomForestRegressor

from predictions.ml import training
from predictions.ml.schema import ColumnType, InputSchema

ARTIFACTS = Path(__file__).resolve().parents[3] / "ml_artifacts"
CAR_TIERS = ("car-price-basic", "car-price-standard", "car-price-premium")
QUICK_MODELS = ["car-price-basic", "review-sentiment"]  # a regression and a text classifier


@pytest.fixture(scope="module")
def manifest_text() -> str:
    return (ARTIFACTS / training.MANIFEST_NAME).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def manifest(manifest_text) -> dict:
    return json.loads(manifest_text)


@pytest.fixture(scope="module")
def entries(manifest) -> dict[str, dict]:
    return {entry["slug"]: entry for entry in manifest["models"]}


@pytest.fixture(scope="module")
def twice(tmp_path_factory) -> tuple[Path, list[dict], Path, list[dict]]:
    """Two trainings of the quick models into two folders."""
    first = tmp_path_factory.mktemp("first")
    second = tmp_path_factory.mktemp("second")
    return (
        first,
        training.train_default_models(first, only=QUICK_MODELS),
        second,
        training.train_default_models(second, only=QUICK_MODELS),
    )


def test_training_twice_gives_the_same_data_metrics_and_bytes(twice):
    first_dir, first, second_dir, second = twice
    assert [entry["slug"] for entry in first] == QUICK_MODELS
    for one, other in zip(first, second, strict=True):
        source = one["training"]["data_source"]
        assert source["sha256"] == other["training"]["data_source"]["sha256"]
        assert one["metrics"] == other["metrics"]
        assert one["sha256"] == other["sha256"]
        assert (first_dir / one["file"]).read_bytes() == (second_dir / other["file"]).read_bytes()
        assert (first_dir / one["plot"]).read_bytes() == (second_dir / other["plot"]).read_bytes()
    assert (first_dir / "manifest.json").read_bytes() == (second_dir / "manifest.json").read_bytes()


def test_same_data_checksum_as_committed_gives_the_committed_metrics(twice, entries):
    _, first, _, _ = twice
    for fresh in first:
        committed = entries[fresh["slug"]]
        data = committed["training"]["data_source"]["sha256"]
        assert fresh["training"]["data_source"]["sha256"] == data
        for name, value in committed["metrics"].items():
            if isinstance(value, float):
                assert fresh["metrics"][name] == pytest.approx(value, rel=1e-6, abs=1e-9), name


def test_trained_files_are_what_their_entries_say(twice):
    folder, first, _, _ = twice
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert [entry["slug"] for entry in manifest["models"]] == QUICK_MODELS
    for entry in first:
        data = (folder / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert sorted(skops.io.get_untrusted_types(data=data)) == entry["trusted_types"]


def test_training_only_some_models_keeps_the_others_entries(tmp_path, entries):
    (tmp_path / "manifest.json").write_text(
        training.manifest_text(training.build_manifest([entries["diamond-price"]])),
        encoding="utf-8",
    )
    (tmp_path / "diamond-price-v1.skops").write_bytes(b"kept")
    (tmp_path / "diamond-price-v1.svg").write_bytes(b"kept")
    training.train_default_models(tmp_path, only=["car-price-basic"])
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert [entry["slug"] for entry in manifest["models"]] == ["car-price-basic", "diamond-price"]
    assert manifest["trusted_types"] == entries["diamond-price"]["trusted_types"]


def test_an_unknown_slug_is_refused(tmp_path):
    with pytest.raises(training.MLError, match="no default model"):
        training.train_default_models(tmp_path, only=["no-such-model"])


def test_canonical_skops_is_stable_and_loads_the_same_model():
    x = np.random.default_rng(0).random((40, 3))
    model = RandomForestRegressor(n_estimators=3, random_state=0).fit(x, x.sum(axis=1))
    first, second = skops.io.dumps(model), skops.io.dumps(model)
    canonical = training.canonical_skops(first)
    assert canonical == training.canonical_skops(second)
    with zipfile.ZipFile(io.BytesIO(canonical)) as archive:
        assert {info.date_time for info in archive.infolist()} == {training.ZIP_EPOCH}
    loaded = skops.io.loads(canonical, trusted=["sklearn.tree._tree.Tree"])
    assert np.array_equal(loaded.predict(x), model.predict(x))


# --- the committed artifacts ------------------------------------------------------------------


def test_the_dearer_car_model_is_better_on_held_out_cars(entries):
    tiers = [entries[slug] for slug in CAR_TIERS]
    for cheaper, dearer in itertools.pairwise(tiers):
        assert cheaper["price_per_row"] < dearer["price_per_row"]
        assert cheaper["metrics"]["r2"] < dearer["metrics"]["r2"]
        assert cheaper["metrics"]["mae"] > dearer["metrics"]["mae"]
        assert cheaper["metrics"]["rmse"] > dearer["metrics"]["rmse"]
    # All three are measured on the same held-out cars.
    assert len({entry["metrics"]["test_rows"] for entry in tiers}) == 1


def test_the_manifest_names_files_with_their_sha256(manifest):
    for entry in manifest["models"]:
        for name, digest in (
            (entry["file"], entry["sha256"]),
            (entry["plot"], entry["plot_sha256"]),
        ):
            data = (ARTIFACTS / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, name


def test_the_committed_artifacts_are_under_25_mb_together():
    total = sum(path.stat().st_size for path in ARTIFACTS.iterdir() if path.is_file())
    assert total < training.MAX_TOTAL_BYTES


def test_the_manifest_is_sorted_json_with_two_space_indent(manifest_text, manifest):
    assert manifest_text == training.manifest_text(manifest)
    assert manifest["format"] == training.MANIFEST_FORMAT


def test_the_trusted_types_cover_every_file(manifest):
    union = sorted({name for entry in manifest["models"] for name in entry["trusted_types"]})
    assert manifest["trusted_types"] == union
    for entry in manifest["models"]:
        found = sorted(skops.io.get_untrusted_types(file=ARTIFACTS / entry["file"]))
        assert found == entry["trusted_types"], entry["slug"]


def test_every_schema_parses_and_describes_its_fields(manifest):
    assert len(manifest["models"]) >= 5
    for entry in manifest["models"]:
        schema = InputSchema.from_dict(entry["schema"])
        assert entry["target"] not in schema.names
        for column in schema.columns:
            assert column.description.get("en"), (entry["slug"], column.name)
            assert column.description.get("ru"), (entry["slug"], column.name)
    reviews = InputSchema.from_dict(
        next(e for e in manifest["models"] if e["slug"] == "review-sentiment")["schema"]
    )
    assert reviews.column("Review").type == ColumnType.TEXT
    credit = InputSchema.from_dict(
        next(e for e in manifest["models"] if e["slug"] == "credit-default")["schema"]
    )
    assert {"Income", "Assets", "Debt"} <= {c.name for c in credit.columns if not c.required}


def test_every_entry_has_its_metrics_record_and_plot(manifest):
    for entry in manifest["models"]:
        metrics, record = entry["metrics"], entry["training"]
        assert metrics["headline"]["value"] == metrics[metrics["headline"]["name"]]
        if entry["task"] == "classification":
            assert len(entry["classes"]) == 2
            assert metrics["positive_class"] in entry["classes"]
            curve = metrics["roc_curve"]
            assert 2 <= len(curve["fpr"]) == len(curve["tpr"]) <= training.ROC_MAX_POINTS
        else:
            assert {"r2", "mae", "rmse"} <= set(metrics)
        assert record["data_source"]["sha256"]
        assert record["rows"]["train"] > record["rows"]["test"] > 0
        assert record["seed"] == training.SEED
        assert {"python", "scikit-learn", "numpy", "pandas", "skops"} <= set(record["libraries"])
        plot = (ARTIFACTS / entry["plot"]).read_bytes()
        assert plot.startswith(b"<?xml")
        assert b"<svg" in plot
        assert len(plot) < 64 * 1024
        assert b"<image" not in plot  # vector only
        assert b"<dc:date>" not in plot  # no date: reproducible bytes
