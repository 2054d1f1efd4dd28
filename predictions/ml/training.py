"""Training the default models that ship in `ml_artifacts/`.

Every default model is a `ModelSpec`: slug, names and descriptions (en, ru), task, the data
loader, the scikit-learn pipeline and the price per row. `train_default_models` trains them on
a fixed split with fixed seeds, measures them on the held-out rows, draws a plot, saves each
fitted pipeline as a skops file and writes `manifest.json`, which the registry reads.

Reproducible by construction: the data come from an installed package (their checksum is
recorded), the split and every estimator use SEED, fitting runs on one thread (so sums are
added in one order whatever the core count), and the skops file is written in a canonical
form: skops names the members of its zip after `id()` of the objects and stamps them with the
current time, and some estimators keep facts about the process (see `forget_runtime_state`),
so two plain dumps of one model differ (see `canonical_skops`). Same data and same library
versions on the same kind of machine give byte-identical artifacts.

Imports nothing of Django: `manage.py train_default_models` is the door.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy
import sklearn
import skops
import skops.io
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    roc_curve,
    root_mean_squared_error,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from . import datasets
from .datasets import Dataset
from .errors import MLError
from .schema import ColumnType, InputSchema, derive_schema

SEED = 42
TEST_SIZE = 0.2
VERSION = 1
MANIFEST_FORMAT = 1
MANIFEST_NAME = "manifest.json"
MAX_TOTAL_BYTES = 25 * 1024 * 1024
PLOT_MAX_POINTS = 200  # every point is an SVG element: keeps a plot near 30 kB
ROC_MAX_POINTS = 50
METRIC_DECIMALS = 6
MISSING_CATEGORY = "missing"

REGRESSION = "regression"
CLASSIFICATION = "classification"

# Estimator parameters that say nothing about the model (logging, threads, memory), and
# placeholder values of parameters on their way out of scikit-learn.
NOISE_PARAMETERS = frozenset({"verbose", "n_jobs", "warm_start", "copy_X", "memory"})
PLACEHOLDER_VALUES = frozenset({"deprecated", "warn"})

Progress = Callable[[str, int, int], None]
STAGES = ("loading data", "fitting", "evaluating", "plotting", "saving")


# --- pipelines --------------------------------------------------------------------------------


def preprocessor(
    schema: InputSchema, *, scale: bool, tfidf: dict[str, Any] | None = None
) -> ColumnTransformer:
    """Columns as the schema types them: categories one-hot encoded (unknown values ignored;
    optional ones imputed as their own 'missing' category), numbers imputed with the median
    when optional and standardised when `scale`, booleans as 0/1, text through TF-IDF."""
    parts: list[tuple[str, Any, Any]] = []
    for column in schema.columns:
        name = column.name
        if column.type == ColumnType.TEXT:
            parts.append((name, TfidfVectorizer(**(tfidf or {})), name))
        elif column.type == ColumnType.CATEGORY:
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
            if not column.required:
                imputer = SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)
                encoder = make_pipeline(imputer, encoder)
            parts.append((name, encoder, [name]))
        elif column.type == ColumnType.BOOLEAN:
            step = (
                "passthrough"
                if column.required
                else SimpleImputer(strategy="most_frequent", keep_empty_features=True)
            )
            parts.append((name, step, [name]))
        else:
            steps: list[Any] = []
            if not column.required:
                steps.append(SimpleImputer(strategy="median"))
            if scale:
                steps.append(StandardScaler())
            step = make_pipeline(*steps) if steps else "passthrough"
            parts.append((name, step, [name]))
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


def _car_linear(schema: InputSchema) -> Pipeline:
    return Pipeline([("prepare", preprocessor(schema, scale=True)), ("model", LinearRegression())])


def _car_forest(schema: InputSchema) -> Pipeline:
    forest = RandomForestRegressor(n_estimators=100, random_state=SEED)
    return Pipeline([("prepare", preprocessor(schema, scale=False)), ("model", forest)])


def _car_boosting(schema: InputSchema) -> Pipeline:
    # Prices are multiplicative (a Cadillac loses more per mile than a Saturn): the trees
    # learn log(price), predictions come back in dollars.
    boosting = GradientBoostingRegressor(
        n_estimators=500, learning_rate=0.03, max_depth=4, subsample=0.8, random_state=SEED
    )
    model = TransformedTargetRegressor(regressor=boosting, func=np.log, inverse_func=np.exp)
    return Pipeline([("prepare", preprocessor(schema, scale=False)), ("model", model)])


def _credit_boosting(schema: InputSchema) -> Pipeline:
    model = HistGradientBoostingClassifier(
        learning_rate=0.03,
        max_iter=400,
        max_depth=4,
        min_samples_leaf=30,
        early_stopping=False,
        random_state=SEED,
    )
    return Pipeline([("prepare", preprocessor(schema, scale=False)), ("model", model)])


REVIEW_TFIDF = {"ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True}


def _review_logistic(schema: InputSchema) -> Pipeline:
    # C chosen by 5-fold cross-validation grouped by product on the training reviews.
    model = LogisticRegression(C=4.0, max_iter=2000, random_state=SEED)
    prepare = preprocessor(schema, scale=False, tfidf=REVIEW_TFIDF)
    return Pipeline([("prepare", prepare), ("model", model)])


def _diamond_boosting(schema: InputSchema) -> Pipeline:
    model = HistGradientBoostingRegressor(
        max_iter=300,
        learning_rate=0.1,
        max_leaf_nodes=63,
        early_stopping=False,
        random_state=SEED,
    )
    return Pipeline([("prepare", preprocessor(schema, scale=False)), ("model", model)])


# --- specs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    slug: str
    name: dict[str, str]
    description: dict[str, str]
    task: str  # REGRESSION or CLASSIFICATION
    load: Callable[[], Dataset]
    build: Callable[[InputSchema], Pipeline]
    algorithm: str
    price_per_row: int
    positive_class: str | None = None  # classification: the class ROC and F1 are about


CAR_NOTE_EN = (
    " Trained on Kelley Blue Book resale prices of 804 General Motors cars of model year 2005;"
    " predicts the price in US dollars."
)
CAR_NOTE_RU = (
    " Обучена на ценах перепродажи Kelley Blue Book для 804 автомобилей General Motors 2005"
    " модельного года; предсказывает цену в долларах США."
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        slug="car-price-basic",
        name={"en": "Car price: basic", "ru": "Цена автомобиля: базовая"},
        description={
            "en": "Linear regression: the cheapest estimate, easy to explain, least accurate."
            + CAR_NOTE_EN,
            "ru": "Линейная регрессия: самая дешёвая оценка, простая и наименее точная."
            + CAR_NOTE_RU,
        },
        task=REGRESSION,
        load=datasets.load_car_prices,
        build=_car_linear,
        algorithm="LinearRegression",
        price_per_row=1,
    ),
    ModelSpec(
        slug="car-price-standard",
        name={"en": "Car price: standard", "ru": "Цена автомобиля: стандартная"},
        description={
            "en": "Random forest of 100 trees: captures how make, body and equipment combine;"
            " more accurate than the basic model." + CAR_NOTE_EN,
            "ru": "Случайный лес из 100 деревьев: учитывает сочетания марки, кузова и"
            " комплектации; точнее базовой модели." + CAR_NOTE_RU,
        },
        task=REGRESSION,
        load=datasets.load_car_prices,
        build=_car_forest,
        algorithm="RandomForestRegressor",
        price_per_row=2,
    ),
    ModelSpec(
        slug="car-price-premium",
        name={"en": "Car price: premium", "ru": "Цена автомобиля: премиум"},
        description={
            "en": "Gradient boosting on the logarithm of the price: the most accurate car"
            " model, with the smallest errors on held-out cars." + CAR_NOTE_EN,
            "ru": "Градиентный бустинг по логарифму цены: самая точная модель, с наименьшими"
            " ошибками на отложенных автомобилях." + CAR_NOTE_RU,
        },
        task=REGRESSION,
        load=datasets.load_car_prices,
        build=_car_boosting,
        algorithm="GradientBoostingRegressor (log-price target)",
        price_per_row=3,
    ),
    ModelSpec(
        slug="credit-default",
        name={"en": "Credit default risk", "ru": "Риск дефолта по кредиту"},
        description={
            "en": "Probability that a loan goes bad, from the applicant's job, housing, family,"
            " income, assets, debt and the loan itself. Gradient boosting trained on 4,454"
            " credit applications; income, assets and debt may be left empty.",
            "ru": "Вероятность, что кредит не будет погашен, по работе, жилью, семье, доходу,"
            " имуществу, долгам заявителя и параметрам кредита. Градиентный бустинг на 4 454"
            " заявках; доход, имущество и долги можно не указывать.",
        },
        task=CLASSIFICATION,
        load=datasets.load_credit_data,
        build=_credit_boosting,
        algorithm="HistGradientBoostingClassifier",
        price_per_row=2,
        positive_class="bad",
    ),
    ModelSpec(
        slug="review-sentiment",
        name={"en": "Review sentiment", "ru": "Тональность отзыва"},
        description={
            "en": "Whether a customer review (English text) comes with a top 5-star rating"
            " ('great') or not ('other'), with probabilities. TF-IDF of words and word pairs"
            " with logistic regression, trained on Amazon fine-food reviews.",
            "ru": "Поставил ли автор отзыва (текст на английском) высшую оценку 5 звёзд"
            " ('great') или нет ('other'), с вероятностями. TF-IDF слов и пар слов и"
            " логистическая регрессия, обучены на отзывах Amazon о продуктах.",
        },
        task=CLASSIFICATION,
        load=datasets.load_reviews,
        build=_review_logistic,
        algorithm="TfidfVectorizer + LogisticRegression",
        price_per_row=1,
        positive_class="great",
    ),
    ModelSpec(
        slug="diamond-price",
        name={"en": "Diamond price", "ru": "Цена бриллианта"},
        description={
            "en": "Price of a round-cut diamond in US dollars from its carat, cut, colour,"
            " clarity and proportions. Gradient boosting trained on 43,000 of 53,940"
            " diamonds (2008 prices).",
            "ru": "Цена бриллианта круглой огранки в долларах США по массе, огранке, цвету,"
            " чистоте и пропорциям. Градиентный бустинг, обучен на 43 000 из 53 940"
            " бриллиантов (цены 2008 года).",
        },
        task=REGRESSION,
        load=datasets.load_diamonds,
        build=_diamond_boosting,
        algorithm="HistGradientBoostingRegressor",
        price_per_row=2,
    ),
)


def spec(slug: str) -> ModelSpec:
    for candidate in DEFAULT_MODELS:
        if candidate.slug == slug:
            return candidate
    raise MLError(f"There is no default model {slug!r}.", code="unknown_model", slug=slug)


# --- metrics ----------------------------------------------------------------------------------


def _round(value: float) -> float:
    return round(float(value), METRIC_DECIMALS)


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    return {
        "r2": _round(r2_score(actual, predicted)),
        "mae": _round(mean_absolute_error(actual, predicted)),
        "rmse": _round(root_mean_squared_error(actual, predicted)),
        "test_rows": len(actual),
    }


def _thin(points: np.ndarray, limit: int) -> np.ndarray:
    """At most `limit` indices into `points`, evenly spread, first and last kept."""
    if len(points) <= limit:
        return np.arange(len(points))
    return np.unique(np.linspace(0, len(points) - 1, limit).round().astype(int))


def classification_metrics(
    actual: np.ndarray, probabilities: np.ndarray, classes: list[str], positive: str
) -> dict[str, Any]:
    position = classes.index(positive)
    scores = probabilities[:, position]
    predicted = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
    is_positive = actual == positive
    fpr, tpr, _ = roc_curve(is_positive, scores)
    keep = _thin(fpr, ROC_MAX_POINTS)
    return {
        "roc_auc": _round(roc_auc_score(is_positive, scores)),
        "accuracy": _round(accuracy_score(actual, predicted)),
        "f1": _round(f1_score(actual, predicted, pos_label=positive)),
        "log_loss": _round(log_loss(actual, probabilities, labels=classes)),
        "positive_class": positive,
        "roc_curve": {
            "fpr": [round(float(value), 4) for value in fpr[keep]],
            "tpr": [round(float(value), 4) for value in tpr[keep]],
        },
        "test_rows": len(actual),
    }


def headline(task: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """The one number a catalog shows: R2 for regression, ROC AUC for classification.
    `name` is that metric's key in `metrics`; stored as `metrics["headline"]`."""
    name = "r2" if task == REGRESSION else "roc_auc"
    return {"name": name, "value": metrics[name]}


# --- plots ------------------------------------------------------------------------------------


def _svg(draw: Callable[[Any], None]) -> bytes:
    """An SVG drawn with matplotlib's object API (no pyplot, no global backend), with a fixed
    hash salt and no date, so the same figure gives the same bytes. Text stays text (the
    browser's sans-serif font), which keeps the file small; no font is embedded."""
    import matplotlib  # training-only dependency, imported when used
    from matplotlib.figure import Figure

    with matplotlib.rc_context(
        {"svg.hashsalt": "mfdp", "svg.fonttype": "none", "font.size": 9, "path.simplify": True}
    ):
        figure = Figure(figsize=(4.6, 4.2))
        axes = figure.add_subplot()
        draw(axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def regression_plot(
    actual: np.ndarray, predicted: np.ndarray, *, target: str, unit: str = ""
) -> bytes:
    rng = np.random.RandomState(SEED)
    shown = np.arange(len(actual))
    if len(shown) > PLOT_MAX_POINTS:
        shown = np.sort(rng.choice(shown, PLOT_MAX_POINTS, replace=False))
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))

    def draw(axes: Any) -> None:
        axes.plot([low, high], [low, high], color="#999999", linewidth=1, linestyle="--")
        axes.plot(
            actual[shown],
            predicted[shown],
            linestyle="none",
            marker="o",
            markersize=3.2,
            markeredgewidth=0,
            alpha=0.6,
            color="#1f6fb2",
        )
        suffix = f", {unit}" if unit else ""
        axes.set_xlabel(f"Actual {target.lower()}{suffix}")
        axes.set_ylabel(f"Predicted {target.lower()}{suffix}")
        note = f"{len(shown)} of {len(actual)} held-out rows" if len(shown) < len(actual) else ""
        axes.set_title(f"Held-out rows, R² = {r2_score(actual, predicted):.3f}")
        if note:
            axes.text(0.02, 0.97, note, transform=axes.transAxes, va="top", fontsize=8)
        axes.grid(True, linewidth=0.4, alpha=0.5)

    return _svg(draw)


def roc_plot(metrics: dict[str, Any]) -> bytes:
    curve = metrics["roc_curve"]

    def draw(axes: Any) -> None:
        axes.plot([0, 1], [0, 1], color="#999999", linewidth=1, linestyle="--")
        axes.plot(curve["fpr"], curve["tpr"], color="#1f6fb2", linewidth=1.8)
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.01)
        axes.set_xlabel("False positive rate")
        axes.set_ylabel("True positive rate")
        axes.set_title(
            f"ROC curve, class '{metrics['positive_class']}', AUC = {metrics['roc_auc']:.3f}"
        )
        axes.grid(True, linewidth=0.4, alpha=0.5)

    return _svg(draw)


# --- artifacts --------------------------------------------------------------------------------

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


# Deflate level of model files: the shipped models are packed hard once (level 9, about 10 x
# slower than level 6 on a 7 MB forest); customers' models, saved while they wait, at 6.
SHIPPED_COMPRESSION = 9
QUICK_COMPRESSION = 6


def canonical_skops(data: bytes, *, compresslevel: int = SHIPPED_COMPRESSION) -> bytes:
    """The same skops file with what varies between dumps made canonical: object ids (used
    as `__id__` and as member names) renumbered in order of appearance, member timestamps set
    to 1980-01-01, members deflated in a fixed order. Identity between objects is kept (the
    renumbering is one-to-one), so loading gives the same model."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = json.loads(source.read("schema.json"))
        members = {name: source.read(name) for name in source.namelist()}
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("__id__"), int):
                node["__id__"] = ids.setdefault(node["__id__"], len(ids) + 1)
            name = node.get("file")
            if isinstance(name, str) and name in members:
                suffix = Path(name).suffix
                node["file"] = files.setdefault(name, f"{len(files) + 1:06d}{suffix}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    if set(members) != {*files, "schema.json"}:
        raise MLError("The skops file has members its schema does not name.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        payload = [(files[old], members[old]) for old in files]
        payload.append(("schema.json", json.dumps(schema, indent=2).encode("utf-8")))
        for name, content in sorted(payload):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            target.writestr(info, content, compresslevel=compresslevel)
    return buffer.getvalue()


# Attributes that hold facts about the running process, not about the model: sklearn's
# CountVectorizer/TfidfVectorizer cache `id()` of their stop words (a loaded model recomputes
# it), and the binner of the histogram gradient boosting keeps the thread count of the
# machine that trained it (None means "as many as the machine has", as in a fresh model).
# Left in, they make every dump differ.
RUNTIME_ID_ATTRIBUTES = ("_stop_words_id",)
BINNER_CLASS = "_BinMapper"


def forget_runtime_state(estimator: Any) -> None:
    """Clear the per-process attributes above in the estimator and everything it holds."""
    seen: set[int] = set()

    def walk(node: Any) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, BaseEstimator):
            for name in RUNTIME_ID_ATTRIBUTES:
                if name in vars(node):
                    delattr(node, name)
            if type(node).__name__ == BINNER_CLASS and "n_threads" in vars(node):
                node.n_threads = None
            for value in list(vars(node).values()):
                walk(value)
        elif isinstance(node, list | tuple):
            for value in node:
                walk(value)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(estimator)


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _outputs(model: Any, frame: pd.DataFrame, task: str) -> np.ndarray:
    if task == CLASSIFICATION:
        return np.asarray(model.predict_proba(frame))
    return np.asarray(model.predict(frame))


def save_model(
    pipeline: Pipeline,
    path: Path,
    *,
    check_rows: pd.DataFrame,
    task: str,
    compresslevel: int = SHIPPED_COMPRESSION,
) -> tuple[str, list[str]]:
    """Write the pipeline as a canonical skops file; return its sha256 and the types skops
    does not trust by default. The written file is loaded back with exactly those types
    trusted and must predict `check_rows` exactly as the fitted pipeline does."""
    forget_runtime_state(pipeline)
    data = canonical_skops(skops.io.dumps(pipeline), compresslevel=compresslevel)
    _write(path, data)
    untrusted = sorted(skops.io.get_untrusted_types(file=path))
    loaded = skops.io.load(path, trusted=untrusted)
    if not np.array_equal(_outputs(loaded, check_rows, task), _outputs(pipeline, check_rows, task)):
        raise MLError(f"{path.name}: the saved model does not predict like the trained one.")
    return _sha256(data), untrusted


# --- training record --------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else str(float(value))
    if isinstance(value, tuple | list) and all(
        item is None or isinstance(item, bool | int | float | str) for item in value
    ):
        return list(value)
    return NotImplemented


def _parameters(estimator: Any, prefix: str = "") -> dict[str, Any]:
    found = {}
    for key, value in sorted(estimator.get_params(deep=False).items()):
        safe = _json_safe(value)
        if safe is NotImplemented or (isinstance(safe, str) and safe in PLACEHOLDER_VALUES):
            continue
        if key not in NOISE_PARAMETERS:
            found[prefix + key] = safe
    return found


def hyperparameters(pipeline: Pipeline) -> dict[str, Any]:
    """The estimator's parameters (get_params, JSON-safe, without logging and threading),
    plus those of a TF-IDF step and the target transform when there is one."""
    model = pipeline.named_steps["model"]
    found: dict[str, Any] = {}
    if isinstance(model, TransformedTargetRegressor):
        found["target_transform"] = "log"
        model = model.regressor
    found.update(_parameters(model))
    for _, transformer, _ in pipeline.named_steps["prepare"].transformers:
        if isinstance(transformer, TfidfVectorizer):
            found.update(
                {
                    key: value
                    for key, value in _parameters(transformer, "tfidf.").items()
                    if key.split(".", 1)[1]
                    in {"ngram_range", "min_df", "max_df", "max_features", "sublinear_tf", "norm"}
                }
            )
    return found


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "skops": skops.__version__,
    }


# --- training ---------------------------------------------------------------------------------


@dataclass
class _Split:
    train: pd.DataFrame
    test: pd.DataFrame
    description: str


def _split(dataset: Dataset, task: str) -> _Split:
    if dataset.test_frame is not None:
        return _Split(
            dataset.frame,
            dataset.test_frame,
            "the source's own split: " + " / ".join(dataset.source.datasets),
        )
    stratify = dataset.frame[dataset.target] if task == CLASSIFICATION else None
    train, test = train_test_split(
        dataset.frame, test_size=TEST_SIZE, random_state=SEED, stratify=stratify
    )
    how = "stratified random" if stratify is not None else "random"
    return _Split(
        train.reset_index(drop=True),
        test.reset_index(drop=True),
        f"{how} {1 - TEST_SIZE:.0%} / {TEST_SIZE:.0%} train/test split, seed {SEED}",
    )


def train_model(
    model_spec: ModelSpec,
    out_dir: Path,
    *,
    load: Callable[[], Dataset] | None = None,
    step: Callable[[str], None] = lambda stage: None,
) -> dict[str, Any]:
    """Train one default model into `out_dir` (its skops file and plot); return its manifest
    entry. `load` replaces the spec's loader (to share one data set between models);
    `step(stage)` is called before each of STAGES."""
    step("loading data")
    dataset = (load or model_spec.load)()
    schema = derive_schema(
        dataset.all_rows,
        target=dataset.target,
        descriptions=dataset.descriptions,
        types={name: ColumnType.TEXT for name in dataset.text_columns},
    )
    split = _split(dataset, model_spec.task)
    features = schema.names
    x_train, y_train = split.train[features], split.train[dataset.target].to_numpy()
    x_test, y_test = split.test[features], split.test[dataset.target].to_numpy()

    step("fitting")
    pipeline = model_spec.build(schema)
    # One BLAS/OpenMP thread: sums are then added in one order whatever the machine.
    with threadpool_limits(limits=1):
        pipeline.fit(x_train, y_train)

    step("evaluating")
    classes: list[str] = []
    with threadpool_limits(limits=1):
        outputs = _outputs(pipeline, x_test, model_spec.task)
    if model_spec.task == CLASSIFICATION:
        classes = [str(label) for label in pipeline.classes_]
        positive = model_spec.positive_class or classes[-1]
        metrics = classification_metrics(y_test.astype(str), outputs, classes, positive)
    else:
        metrics = regression_metrics(y_test.astype(float), outputs)

    metrics["headline"] = headline(model_spec.task, metrics)

    step("plotting")
    plot_name = f"{model_spec.slug}-v{VERSION}.svg"
    if model_spec.task == CLASSIFICATION:
        plot = roc_plot(metrics)
    else:
        plot = regression_plot(
            y_test.astype(float), outputs, target=dataset.target, unit=dataset.target_unit
        )
    _write(out_dir / plot_name, plot)

    step("saving")
    file_name = f"{model_spec.slug}-v{VERSION}.skops"
    sha256, untrusted = save_model(
        pipeline, out_dir / file_name, check_rows=x_test, task=model_spec.task
    )
    return {
        "slug": model_spec.slug,
        "version": VERSION,
        "name": dict(model_spec.name),
        "description": dict(model_spec.description),
        "task": model_spec.task,
        "target": dataset.target,
        "target_description": dict(dataset.target_description),
        "classes": classes,
        "file": file_name,
        "sha256": sha256,
        "size_bytes": (out_dir / file_name).stat().st_size,
        "trusted_types": untrusted,
        "plot": plot_name,
        "plot_sha256": _sha256(plot),
        "schema": schema.to_dict(),
        "metrics": metrics,
        "price_per_row": model_spec.price_per_row,
        "training": {
            "algorithm": model_spec.algorithm,
            "hyperparameters": hyperparameters(pipeline),
            "data_source": dataset.source.to_dict(),
            "split": split.description,
            "rows": {"train": len(split.train), "test": len(split.test)},
            "seed": SEED,
            "libraries": library_versions(),
        },
    }


def manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def build_manifest(entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    by_slug = {entry["slug"]: entry for entry in entries}
    ordered = [by_slug[s.slug] for s in DEFAULT_MODELS if s.slug in by_slug]
    trusted = sorted({name for entry in ordered for name in entry.get("trusted_types", [])})
    return {"format": MANIFEST_FORMAT, "trusted_types": trusted, "models": ordered}


def artifact_bytes(out_dir: Path, manifest: dict[str, Any]) -> int:
    """Bytes of every file the manifest names, and of the manifest."""
    total = len(manifest_text(manifest).encode("utf-8"))
    for entry in manifest["models"]:
        for name in (entry["file"], entry["plot"]):
            total += (out_dir / name).stat().st_size
    return total


def train_default_models(
    out_dir: Path,
    *,
    progress: Progress | None = None,
    only: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Train the default models (all, or those named in `only`) into `out_dir`, write their
    files and `manifest.json` (entries of models not retrained are kept), and return the
    manifest entries of the models trained. `progress(message, done, total)` is called
    before each stage and once at the end with done == total."""
    chosen = [spec(slug) for slug in only] if only else list(DEFAULT_MODELS)
    out_dir.mkdir(parents=True, exist_ok=True)
    total = len(chosen) * len(STAGES)
    done = 0
    loaded: dict[Callable[[], Dataset], Dataset] = {}

    def cached(loader: Callable[[], Dataset]) -> Callable[[], Dataset]:
        def load() -> Dataset:
            if loader not in loaded:
                loaded[loader] = loader()
            return loaded[loader]

        return load

    trained: list[dict[str, Any]] = []
    for model_spec in chosen:

        def step(stage: str, slug: str = model_spec.slug) -> None:
            nonlocal done
            if progress is not None:
                progress(f"{slug}: {stage}", done, total)
            done += 1

        trained.append(train_model(model_spec, out_dir, load=cached(model_spec.load), step=step))
    if progress is not None:
        progress("writing the manifest", total, total)

    previous = read_manifest(out_dir)
    kept = [
        entry
        for entry in (previous or {}).get("models", [])
        if entry.get("slug") not in {e["slug"] for e in trained}
    ]
    manifest = build_manifest([*kept, *trained])
    size = artifact_bytes(out_dir, manifest)
    if size > MAX_TOTAL_BYTES:
        raise MLError(
            f"The artifacts take {size} bytes, more than the {MAX_TOTAL_BYTES} allowed.",
            code="artifacts_too_big",
            size=size,
        )
    _write(out_dir / MANIFEST_NAME, manifest_text(manifest).encode("utf-8"))
    return trained
