"""The algorithms customers train their own models with: what each one is called, which
columns it reads, which hyperparameters a customer may set (with limits, so a form and the
API refuse nonsense before any credit is spent), what a training costs, and how its
scikit-learn pipeline is built.

Every pipeline is `prepare` (training.preprocessor on the columns the algorithm's family
reads) then `model`, the shape the default models have, so inference, saving and
explanations treat a customer's model like a shipped one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from .errors import MLError
from .schema import ColumnType, InputSchema
from .training import CLASSIFICATION, REGRESSION, preprocessor

TABULAR = "tabular"
TEXT = "text"

INTEGER = "integer"
NUMBER = "number"
CHOICE = "choice"
BOOLEAN = "boolean"

LOGISTIC_MAX_ITER = 2000
SVM_CALIBRATION_FOLDS = 3


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    kind: str  # INTEGER, NUMBER, CHOICE or BOOLEAN
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    label: dict[str, str] = field(default_factory=dict)  # language code -> text
    help: dict[str, str] = field(default_factory=dict)

    def to_dict(self, language: str | None = None) -> dict[str, Any]:
        """JSON-safe, for the API and the form: label and help in `language` (English when
        it has none), or every language when `language` is None."""
        return {
            "name": self.name,
            "kind": self.kind,
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": list(self.choices),
            "label": _translated(self.label, language),
            "help": _translated(self.help, language),
        }

    def problem(self, value: Any) -> tuple[str, str] | None:
        """(code, message) when `value` is not acceptable, else None."""
        if not self._has_kind(value):
            return "type", f"{self.name} must be {_KIND_WORDS[self.kind]}, not {value!r}"
        if self.kind == CHOICE:
            if value not in self.choices:
                allowed = ", ".join(repr(choice) for choice in self.choices)
                return "choice", f"{self.name} must be one of {allowed}, not {value!r}"
            return None
        # Written with !r: a 400-digit integer is a fine value to refuse, not to format as a float.
        if self.minimum is not None and value < self.minimum:
            return "minimum", f"{self.name} must be at least {self.minimum:g}, not {value!r:.40}"
        if self.maximum is not None and value > self.maximum:
            return "maximum", f"{self.name} must be at most {self.maximum:g}, not {value!r:.40}"
        return None

    def clean(self, value: Any) -> Any:
        """An acceptable value in its canonical type (3.0 given for an integer becomes 3)."""
        if self.kind == INTEGER:
            return int(value)
        if self.kind == NUMBER:
            return float(value)
        return value

    def _has_kind(self, value: Any) -> bool:
        # bool is an int to Python, but `true` for a tree count is a mistake, not a 1.
        if self.kind == BOOLEAN:
            return isinstance(value, bool)
        if self.kind == CHOICE:
            return isinstance(value, str)
        if isinstance(value, bool) or not isinstance(value, Real):
            return False
        if isinstance(value, Integral):
            return True  # too large to be a float, still an integer (refused by the bounds)
        if not math.isfinite(value):
            return False
        return self.kind == NUMBER or float(value).is_integer()


_KIND_WORDS = {
    INTEGER: "a whole number",
    NUMBER: "a number",
    CHOICE: "one of the listed values",
    BOOLEAN: "true or false",
}


def _translated(texts: dict[str, str], language: str | None) -> Any:
    if language is None:
        return dict(texts)
    return texts.get(language) or texts.get("en", "")


EstimatorFactory = Callable[[dict[str, Any], int], Any]


@dataclass(frozen=True)
class Algorithm:
    name: str  # stable slug, stored with every trained model
    task: str  # REGRESSION or CLASSIFICATION
    family: str  # TABULAR (every non-text column) or TEXT (only text columns)
    label: dict[str, str]
    description: dict[str, str]
    hyperparameters: tuple[Hyperparameter, ...]
    base_price: int  # credits per training
    price_per_1000_rows: int  # credits per started 1,000 training rows
    predict_price_per_row: int
    explanation: str  # "linear", "tree" or "text_linear"
    estimator: EstimatorFactory = field(repr=False, compare=False, default=None)
    scale: bool = False  # standardise numbers (linear models need it, trees do not)
    # The parameter that counts trees: such models are grown in chunks with warm_start so
    # training reports progress and can stop between chunks.
    growth_parameter: str | None = None
    # Calibrating the SVM cross-validates within the training rows: each class needs a row
    # in every fold.
    min_rows_per_class: int = 1

    def price(self, rows: int) -> int:
        """Credits for training on `rows` rows: the base price plus a price per started
        1,000 rows, so a larger table costs more, in steps a customer can predict."""
        return self.base_price + math.ceil(rows / 1000) * self.price_per_1000_rows

    def validate(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """Every hyperparameter with its value: the given ones, checked and in canonical
        type, and defaults for the rest. Raises MLError("invalid_hyperparameters") listing
        every problem at once, so a form can mark all bad fields in one round trip."""
        given = {} if params is None else params
        if not isinstance(given, dict):
            raise _invalid(self, [_problem(None, "type", "hyperparameters must be an object")])
        known = {hyperparameter.name: hyperparameter for hyperparameter in self.hyperparameters}
        problems = [
            _problem(name, "unknown", f"{name} is not a hyperparameter of {self.name}")
            for name in given
            if name not in known
        ]
        cleaned: dict[str, Any] = {}
        for name, hyperparameter in known.items():
            value = given.get(name, hyperparameter.default)
            found = hyperparameter.problem(value)
            if found:
                problems.append(_problem(name, *found))
            else:
                cleaned[name] = hyperparameter.clean(value)
        if problems:
            raise _invalid(self, problems)
        return cleaned

    def columns(self, schema: InputSchema) -> InputSchema:
        """The part of `schema` this algorithm reads."""
        wanted = [
            column
            for column in schema.columns
            if (column.type == ColumnType.TEXT) == (self.family == TEXT)
        ]
        if not wanted:
            raise MLError(
                f"{self.name} reads {self.family} columns and the table has none.",
                code="no_usable_columns",
                algorithm=self.name,
                family=self.family,
            )
        return InputSchema(columns=tuple(wanted))

    def build(self, schema: InputSchema, params: dict[str, Any], *, seed: int) -> Pipeline:
        """An unfitted pipeline for `schema` with `params` (validated here, defaults filled)."""
        params = self.validate(params)
        tfidf = _tfidf_options(params) if self.family == TEXT else None
        prepare = preprocessor(self.columns(schema), scale=self.scale, tfidf=tfidf)
        return Pipeline([("prepare", prepare), ("model", self.estimator(params, seed))])

    def to_dict(self, language: str = "en") -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "family": self.family,
            "label": _translated(self.label, language),
            "description": _translated(self.description, language),
            "hyperparameters": [
                hyperparameter.to_dict(language) for hyperparameter in self.hyperparameters
            ],
            "base_price": self.base_price,
            "price_per_1000_rows": self.price_per_1000_rows,
            "predict_price_per_row": self.predict_price_per_row,
            "explanation": self.explanation,
        }


def _problem(name: str | None, code: str, message: str) -> dict[str, Any]:
    return {"name": name, "code": code, "message": message}


def _invalid(algorithm: Algorithm, problems: list[dict[str, Any]]) -> MLError:
    details = "; ".join(problem["message"] for problem in problems)
    return MLError(
        f"Invalid hyperparameters for {algorithm.name}: {details}.",
        code="invalid_hyperparameters",
        algorithm=algorithm.name,
        problems=problems,
    )


def _tfidf_options(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "ngram_range": (1, params["ngram_max"]),
        "min_df": params["min_df"],
        "max_features": params["max_features"],
        "sublinear_tf": params["sublinear_tf"],
    }


# --- hyperparameters ----------------------------------------------------------------------------

FIT_INTERCEPT = Hyperparameter(
    "fit_intercept",
    BOOLEAN,
    True,
    label={"en": "Fit an intercept", "ru": "Подбирать свободный член"},
    help={
        "en": "Whether the model learns a constant term; turn it off only when the target is "
        "zero whenever every feature is zero.",
        "ru": "Обучает ли модель постоянное слагаемое; отключайте, только если целевое "
        "значение равно нулю, когда все признаки равны нулю.",
    },
)
RIDGE_ALPHA = Hyperparameter(
    "alpha",
    NUMBER,
    1.0,
    minimum=1e-4,
    maximum=1e4,
    label={"en": "Regularisation strength", "ru": "Сила регуляризации"},
    help={
        "en": "Larger values shrink the coefficients more, trading fit on the training rows "
        "for stability on new ones.",
        "ru": "Чем больше значение, тем сильнее сжимаются коэффициенты: модель меньше "
        "подстраивается под обучающие строки, но устойчивее на новых.",
    },
)


def _inverse_regularisation(default: float) -> Hyperparameter:
    return Hyperparameter(
        "C",
        NUMBER,
        default,
        minimum=1e-4,
        maximum=1e4,
        label={"en": "Inverse regularisation (C)", "ru": "Обратная сила регуляризации (C)"},
        help={
            "en": "Smaller values regularise more strongly; larger values follow the training "
            "rows more closely.",
            "ru": "Меньшие значения сильнее регуляризуют модель, большие точнее следуют "
            "обучающим строкам.",
        },
    )


N_ESTIMATORS = Hyperparameter(
    "n_estimators",
    INTEGER,
    100,
    minimum=10,
    maximum=500,
    label={"en": "Number of trees", "ru": "Число деревьев"},
    help={
        "en": "More trees give steadier predictions but train and predict more slowly.",
        "ru": "Чем больше деревьев, тем стабильнее предсказания, но тем дольше обучение и "
        "предсказание.",
    },
)
# Bounded by default: an unlimited forest on a large table makes a model file of hundreds of
# megabytes for little gain.
MAX_DEPTH = Hyperparameter(
    "max_depth",
    INTEGER,
    12,
    minimum=1,
    maximum=50,
    label={"en": "Maximum tree depth", "ru": "Максимальная глубина дерева"},
    help={
        "en": "Deeper trees capture finer interactions but may overfit and make the model "
        "file larger.",
        "ru": "Более глубокие деревья улавливают тонкие взаимосвязи, но могут переобучаться и "
        "увеличивают файл модели.",
    },
)
MIN_SAMPLES_LEAF = Hyperparameter(
    "min_samples_leaf",
    INTEGER,
    1,
    minimum=1,
    maximum=100,
    label={"en": "Minimum rows per leaf", "ru": "Минимум строк в листе"},
    help={
        "en": "Each leaf holds at least this many training rows; larger values smooth the "
        "predictions.",
        "ru": "В каждом листе не меньше стольких обучающих строк; большие значения сглаживают "
        "предсказания.",
    },
)
MAX_FEATURES_CHOICES = {"sqrt": "sqrt", "log2": "log2", "all": 1.0}


def _features_per_split(default: str) -> Hyperparameter:
    return Hyperparameter(
        "max_features",
        CHOICE,
        default,
        choices=tuple(MAX_FEATURES_CHOICES),
        label={"en": "Features tried per split", "ru": "Признаков на одно разбиение"},
        help={
            "en": "How many features each split considers: the square root or the logarithm "
            "of their number, or all of them.",
            "ru": "Сколько признаков рассматривает каждое разбиение: квадратный корень или "
            "логарифм от их числа либо все.",
        },
    )


FOREST_REGRESSION = (N_ESTIMATORS, MAX_DEPTH, MIN_SAMPLES_LEAF, _features_per_split("all"))
FOREST_CLASSIFICATION = (N_ESTIMATORS, MAX_DEPTH, MIN_SAMPLES_LEAF, _features_per_split("sqrt"))

BOOSTING = (
    Hyperparameter(
        "max_iter",
        INTEGER,
        200,
        minimum=10,
        maximum=1000,
        label={"en": "Boosting iterations", "ru": "Итерации бустинга"},
        help={
            "en": "How many trees are added one after another; more can fit better but take "
            "longer.",
            "ru": "Сколько деревьев добавляется одно за другим; больше деревьев точнее, но дольше.",
        },
    ),
    Hyperparameter(
        "learning_rate",
        NUMBER,
        0.1,
        minimum=0.001,
        maximum=1.0,
        label={"en": "Learning rate", "ru": "Скорость обучения"},
        help={
            "en": "How much each new tree corrects the previous ones; smaller values need more "
            "iterations.",
            "ru": "Насколько каждое новое дерево исправляет предыдущие; при меньших значениях "
            "нужно больше итераций.",
        },
    ),
    Hyperparameter(
        "max_leaf_nodes",
        INTEGER,
        31,
        minimum=2,
        maximum=255,
        label={"en": "Leaves per tree", "ru": "Листьев в дереве"},
        help={
            "en": "The largest number of leaves in each tree; more leaves model more complex "
            "patterns.",
            "ru": "Наибольшее число листьев в каждом дереве; чем их больше, тем сложнее "
            "закономерности, которые улавливает модель.",
        },
    ),
    Hyperparameter(
        "l2_regularization",
        NUMBER,
        0.0,
        minimum=0.0,
        maximum=100.0,
        label={"en": "L2 regularisation", "ru": "L2-регуляризация"},
        help={
            "en": "A penalty on large leaf values; larger values make the model more cautious.",
            "ru": "Штраф за большие значения в листьях; чем он больше, тем осторожнее модель.",
        },
    ),
)

TFIDF = (
    Hyperparameter(
        "ngram_max",
        INTEGER,
        2,
        minimum=1,
        maximum=3,
        label={"en": "Longest word sequence", "ru": "Длина словосочетаний"},
        help={
            "en": "1 uses single words, 2 adds pairs of neighbouring words, 3 adds triples.",
            "ru": "1 — только отдельные слова, 2 — ещё и пары соседних слов, 3 — и тройки.",
        },
    ),
    # 1 by default: customers' tables can be a few dozen texts, where a rarer threshold
    # leaves no vocabulary at all.
    Hyperparameter(
        "min_df",
        INTEGER,
        1,
        minimum=1,
        maximum=20,
        label={"en": "Minimum texts per term", "ru": "Минимум текстов на термин"},
        help={
            "en": "Terms found in fewer texts than this are ignored; 1 keeps every term.",
            "ru": "Термины, встречающиеся в меньшем числе текстов, не учитываются; 1 сохраняет "
            "все термины.",
        },
    ),
    Hyperparameter(
        "max_features",
        INTEGER,
        50000,
        minimum=100,
        maximum=200000,
        label={"en": "Vocabulary size", "ru": "Размер словаря"},
        help={
            "en": "Only this many of the most frequent terms are kept.",
            "ru": "Сохраняется только столько самых частых терминов.",
        },
    ),
    Hyperparameter(
        "sublinear_tf",
        BOOLEAN,
        True,
        label={"en": "Dampen repeated words", "ru": "Ослаблять повторы слов"},
        help={
            "en": "A word repeated in one text counts as 1 + log(count), so repetition weighs "
            "less.",
            "ru": "Слово, повторённое в тексте, учитывается как 1 + log(число повторов), и "
            "повторы весят меньше.",
        },
    ),
)
NAIVE_BAYES_ALPHA = Hyperparameter(
    "alpha",
    NUMBER,
    1.0,
    minimum=1e-3,
    maximum=10.0,
    label={"en": "Smoothing (alpha)", "ru": "Сглаживание (alpha)"},
    help={
        "en": "Added to every term count so that a term unseen in a class does not rule the "
        "class out; larger values smooth more.",
        "ru": "Прибавляется к частоте каждого термина, чтобы термин, не встреченный в классе, "
        "не исключал этот класс; чем больше, тем сильнее сглаживание.",
    },
)


# --- estimators ---------------------------------------------------------------------------------


def _linear_regression(params: dict[str, Any], seed: int) -> LinearRegression:
    return LinearRegression(fit_intercept=params["fit_intercept"])


def _ridge(params: dict[str, Any], seed: int) -> Ridge:
    return Ridge(alpha=params["alpha"], random_state=seed)


def _forest_options(params: dict[str, Any], seed: int) -> dict[str, Any]:
    return {
        "n_estimators": params["n_estimators"],
        "max_depth": params["max_depth"],
        "min_samples_leaf": params["min_samples_leaf"],
        "max_features": MAX_FEATURES_CHOICES[params["max_features"]],
        "random_state": seed,
    }


def _forest_regression(params: dict[str, Any], seed: int) -> RandomForestRegressor:
    return RandomForestRegressor(**_forest_options(params, seed))


def _forest_classification(params: dict[str, Any], seed: int) -> RandomForestClassifier:
    return RandomForestClassifier(**_forest_options(params, seed))


def _boosting_options(params: dict[str, Any], seed: int) -> dict[str, Any]:
    # No early stopping: it would hold out a further random part of the training rows and
    # stop at a data-dependent iteration, which the customer did not ask for.
    return {
        "max_iter": params["max_iter"],
        "learning_rate": params["learning_rate"],
        "max_leaf_nodes": params["max_leaf_nodes"],
        "l2_regularization": params["l2_regularization"],
        "early_stopping": False,
        "random_state": seed,
    }


def _boosting_regression(params: dict[str, Any], seed: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(**_boosting_options(params, seed))


def _boosting_classification(params: dict[str, Any], seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(**_boosting_options(params, seed))


def _logistic_regression(params: dict[str, Any], seed: int) -> LogisticRegression:
    return LogisticRegression(C=params["C"], max_iter=LOGISTIC_MAX_ITER, random_state=seed)


def _linear_svm(params: dict[str, Any], seed: int) -> CalibratedClassifierCV:
    # A bare SVM gives no probabilities, and predictions report them: a sigmoid calibrated
    # on cross-validated scores turns its margins into probabilities.
    return CalibratedClassifierCV(
        LinearSVC(C=params["C"], random_state=seed),
        method="sigmoid",
        cv=SVM_CALIBRATION_FOLDS,
        ensemble=False,
    )


def _naive_bayes(params: dict[str, Any], seed: int) -> MultinomialNB:
    return MultinomialNB(alpha=params["alpha"])


# --- the registry -------------------------------------------------------------------------------

LINEAR_PRICES = {"base_price": 5, "price_per_1000_rows": 1, "predict_price_per_row": 1}
TREE_PRICES = {"base_price": 20, "price_per_1000_rows": 4, "predict_price_per_row": 2}
TEXT_PRICES = {"base_price": 10, "price_per_1000_rows": 2, "predict_price_per_row": 1}

FOREST_LABEL = {"en": "Random forest", "ru": "Случайный лес"}
FOREST_DESCRIPTION = {
    "en": "Averages many decision trees grown on random samples of the rows; captures "
    "interactions between features with little tuning.",
    "ru": "Усредняет много деревьев решений, выращенных на случайных выборках строк; "
    "улавливает взаимодействия признаков почти без настройки.",
}
BOOSTING_LABEL = {"en": "Gradient boosting", "ru": "Градиентный бустинг"}
BOOSTING_DESCRIPTION = {
    "en": "Adds trees one after another, each correcting the errors of the previous ones; "
    "usually the most accurate choice for tables.",
    "ru": "Добавляет деревья одно за другим, и каждое исправляет ошибки предыдущих; обычно "
    "самый точный выбор для таблиц.",
}

ALGORITHMS: tuple[Algorithm, ...] = (
    Algorithm(
        name="linear_regression",
        task=REGRESSION,
        family=TABULAR,
        label={"en": "Linear regression", "ru": "Линейная регрессия"},
        description={
            "en": "A weighted sum of the features: fast and easy to explain, best when the "
            "effects of the features add up.",
            "ru": "Взвешенная сумма признаков: быстро и легко объяснить, лучше всего подходит, "
            "когда влияния признаков складываются.",
        },
        hyperparameters=(FIT_INTERCEPT,),
        explanation="linear",
        estimator=_linear_regression,
        scale=True,
        **LINEAR_PRICES,
    ),
    Algorithm(
        name="ridge",
        task=REGRESSION,
        family=TABULAR,
        label={"en": "Ridge regression", "ru": "Гребневая регрессия"},
        description={
            "en": "Linear regression with shrunk coefficients: steadier when the features are "
            "many or correlated.",
            "ru": "Линейная регрессия со сжатыми коэффициентами: устойчивее, когда признаков "
            "много или они коррелируют.",
        },
        hyperparameters=(RIDGE_ALPHA,),
        explanation="linear",
        estimator=_ridge,
        scale=True,
        **LINEAR_PRICES,
    ),
    Algorithm(
        name="random_forest_regression",
        task=REGRESSION,
        family=TABULAR,
        label=FOREST_LABEL,
        description=FOREST_DESCRIPTION,
        hyperparameters=FOREST_REGRESSION,
        explanation="tree",
        estimator=_forest_regression,
        growth_parameter="n_estimators",
        **TREE_PRICES,
    ),
    Algorithm(
        name="hist_gradient_boosting_regression",
        task=REGRESSION,
        family=TABULAR,
        label=BOOSTING_LABEL,
        description=BOOSTING_DESCRIPTION,
        hyperparameters=BOOSTING,
        explanation="tree",
        estimator=_boosting_regression,
        growth_parameter="max_iter",
        **TREE_PRICES,
    ),
    Algorithm(
        name="logistic_regression",
        task=CLASSIFICATION,
        family=TABULAR,
        label={"en": "Logistic regression", "ru": "Логистическая регрессия"},
        description={
            "en": "A weighted sum of the features turned into class probabilities: fast and "
            "easy to explain.",
            "ru": "Взвешенная сумма признаков, превращённая в вероятности классов: быстро и "
            "легко объяснить.",
        },
        hyperparameters=(_inverse_regularisation(1.0),),
        explanation="linear",
        estimator=_logistic_regression,
        scale=True,
        **LINEAR_PRICES,
    ),
    Algorithm(
        name="random_forest_classification",
        task=CLASSIFICATION,
        family=TABULAR,
        label=FOREST_LABEL,
        description=FOREST_DESCRIPTION,
        hyperparameters=FOREST_CLASSIFICATION,
        explanation="tree",
        estimator=_forest_classification,
        growth_parameter="n_estimators",
        **TREE_PRICES,
    ),
    Algorithm(
        name="hist_gradient_boosting_classification",
        task=CLASSIFICATION,
        family=TABULAR,
        label=BOOSTING_LABEL,
        description=BOOSTING_DESCRIPTION,
        hyperparameters=BOOSTING,
        explanation="tree",
        estimator=_boosting_classification,
        growth_parameter="max_iter",
        **TREE_PRICES,
    ),
    Algorithm(
        name="tfidf_logistic_regression",
        task=CLASSIFICATION,
        family=TEXT,
        label={"en": "TF-IDF + logistic regression", "ru": "TF-IDF + логистическая регрессия"},
        description={
            "en": "Weighs the words of the text columns and learns which of them point to each "
            "class.",
            "ru": "Взвешивает слова текстовых столбцов и выясняет, какие из них указывают на "
            "каждый класс.",
        },
        # 4, not 1: TF-IDF vectors are long and sparse, and on review-like texts a weaker
        # penalty scored better (the shipped review model chose it by cross-validation).
        hyperparameters=(*TFIDF, _inverse_regularisation(4.0)),
        explanation="text_linear",
        estimator=_logistic_regression,
        **TEXT_PRICES,
    ),
    Algorithm(
        name="tfidf_linear_svm",
        task=CLASSIFICATION,
        family=TEXT,
        label={"en": "TF-IDF + linear SVM", "ru": "TF-IDF + линейный SVM"},
        description={
            "en": "A linear support vector machine on word weights, calibrated to give "
            "probabilities; strong on short texts.",
            "ru": "Линейный метод опорных векторов на весах слов, откалиброванный для выдачи "
            "вероятностей; хорош на коротких текстах.",
        },
        hyperparameters=(*TFIDF, _inverse_regularisation(1.0)),
        explanation="text_linear",
        estimator=_linear_svm,
        min_rows_per_class=SVM_CALIBRATION_FOLDS,
        **TEXT_PRICES,
    ),
    Algorithm(
        name="tfidf_naive_bayes",
        task=CLASSIFICATION,
        family=TEXT,
        label={"en": "TF-IDF + naive Bayes", "ru": "TF-IDF + наивный байесовский классификатор"},
        description={
            "en": "Word frequencies per class: very fast, a good first model for texts.",
            "ru": "Частоты слов в каждом классе: очень быстро, хорошая первая модель для текстов.",
        },
        hyperparameters=(*TFIDF, NAIVE_BAYES_ALPHA),
        explanation="text_linear",
        estimator=_naive_bayes,
        **TEXT_PRICES,
    ),
)


def get_algorithm(name: str) -> Algorithm:
    for algorithm in ALGORITHMS:
        if algorithm.name == name:
            return algorithm
    raise MLError(f"There is no algorithm {name!r}.", code="unknown_algorithm", algorithm=name)


def algorithms_for(task: str) -> list[Algorithm]:
    return [algorithm for algorithm in ALGORITHMS if algorithm.task == task]
