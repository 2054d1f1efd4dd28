"""Training tables made in the tests: a car-price regression and a review-sentiment text
classification, as CSV bytes a customer would upload."""

import io

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing import services as billing
from tests.factories import UserFactory, issue_token

CREDITS = 5_000

POSITIVE = ["great", "excellent", "love", "perfect", "wonderful", "fast", "happy", "recommend"]
NEGATIVE = ["awful", "broken", "hate", "terrible", "slow", "refund", "poor", "disappointed"]
NEUTRAL = ["the", "phone", "case", "battery", "screen", "delivery", "product", "it", "was"]


def car_frame(rows: int = 300, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    make = rng.choice(["Buick", "Saab", "Pontiac", "Cadillac"], size=rows)
    mileage = rng.integers(1_000, 60_000, size=rows)
    year = rng.integers(1998, 2010, size=rows)
    cruise = rng.choice(["yes", "no"], size=rows)
    uplift = pd.Series(make).map({"Buick": 0, "Saab": 4_000, "Pontiac": -2_000, "Cadillac": 9_000})
    price = (
        20_000
        - 0.15 * mileage
        + 900 * (year - 2000)
        + uplift.to_numpy()
        + np.where(cruise == "yes", 700, 0)
        + rng.normal(0, 600, size=rows)
    )
    return pd.DataFrame(
        {"Mileage": mileage, "Year": year, "Make": make, "Cruise": cruise, "Price": price.round(2)}
    )


def review_frame(rows: int = 240, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.choice(["positive", "negative"], size=rows)
    texts = []
    for label in labels:
        mood = POSITIVE if label == "positive" else NEGATIVE
        words = list(rng.choice(NEUTRAL, size=6)) + list(rng.choice(mood, size=3))
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
    return pd.DataFrame({"Review": texts, "Sentiment": labels})


def csv_upload(frame: pd.DataFrame, name: str = "table.csv") -> SimpleUploadedFile:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return SimpleUploadedFile(name, buffer.getvalue().encode(), content_type="text/csv")


@pytest.fixture
def trainer(db):
    user = UserFactory()
    billing.grant(user=user, amount=CREDITS, memo="test credits", actor=None)
    return user


@pytest.fixture
def api(api_client, trainer):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(trainer)}")
    return api_client
