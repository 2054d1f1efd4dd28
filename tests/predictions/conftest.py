import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from billing import services as billing
from predictions import services
from predictions.ml.inference import sha256_of
from predictions.ml.schema import derive_schema
from predictions.models import ModelVersion
from tests.factories import UserFactory


def _car_frame(rows: int = 60) -> pd.DataFrame:
    generator = np.random.default_rng(7)
    make = generator.choice(["Buick", "Saab", "Pontiac"], size=rows)
    mileage = generator.integers(1_000, 50_000, size=rows)
    price = 30_000 - mileage * 0.2 + np.where(make == "Saab", 5_000, 0)
    return pd.DataFrame({"Mileage": mileage, "Make": make, "Price": price})


def _pipeline(estimator):
    encode = ColumnTransformer(
        [("make", OneHotEncoder(handle_unknown="ignore"), ["Make"])], remainder="passthrough"
    )
    return make_pipeline(encode, estimator)


def _entry(folder: Path, slug: str, task: str, model, frame: pd.DataFrame, target: str, **extra):
    file = f"{slug}-v1.skops"
    skops.io.dump(model, folder / file)
    (folder / f"{slug}.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"></svg>')
    schema = derive_schema(
        frame, target=target, descriptions={"Mileage": {"en": "Miles", "ru": "Мили"}}
    )
    return {
        "slug": slug,
        "version": 1,
        "name": {"en": f"{slug} (en)", "ru": f"{slug} (ru)"},
        "description": {"en": "A test model.", "ru": "Тестовая модель."},
        "task": task,
        "target": target,
        "file": file,
        "sha256": sha256_of(folder / file),
        "plot": f"{slug}.svg",
        "schema": schema.to_dict(),
        "metrics": {"headline": {"name": "r2", "value": 0.9}, "r2": 0.9},
        "training": {"algorithm": type(model[-1]).__name__, "rows": {"train": 48, "test": 12}},
        "price_per_row": 2,
        **extra,
    }


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """A folder like ml_artifacts/: a regression and a classifier, small and quick."""
    folder = tmp_path_factory.mktemp("tiny-models")
    frame = _car_frame()
    regression = _pipeline(LinearRegression()).fit(frame[["Mileage", "Make"]], frame["Price"])
    labels = np.where(frame["Price"] > frame["Price"].median(), "dear", "cheap")
    classifier = _pipeline(LogisticRegression(max_iter=500)).fit(frame[["Mileage", "Make"]], labels)
    models = [
        _entry(folder, "tiny-price", "regression", regression, frame, "Price"),
        _entry(
            folder,
            "tiny-class",
            "classification",
            classifier,
            frame.assign(Price=labels),
            "Price",
            classes=[str(label) for label in classifier.classes_],
        ),
    ]
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "models": models}, indent=2))
    return folder


@pytest.fixture(scope="session")
def pickled_model(tiny_models) -> Path:
    """The same regression saved with pickle: never to be loaded."""
    frame = _car_frame()
    model = _pipeline(LinearRegression()).fit(frame[["Mileage", "Make"]], frame["Price"])
    path = tiny_models / "pickled.pkl"
    path.write_bytes(pickle.dumps(model))
    return path


@pytest.fixture
def price_version(tiny_models):
    """The tiny regression model (Mileage, Make -> price), registered, 2 credits a row."""
    services.register_manifest(folder=tiny_models)
    return ModelVersion.objects.get(model__slug="tiny-price")


@pytest.fixture
def customer():
    """A customer with 100 credits."""
    user = UserFactory()
    billing.grant(user=user, amount=100, memo="test credits", actor=None)
    return user
