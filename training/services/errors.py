"""The ML package's refusals, in the customer's language. The package speaks English with
stable codes and parameters; this table translates the codes customers meet when they
upload a training table, revise its schema or train. An unknown code keeps the English."""

from django.utils.translation import gettext_lazy as _

from mfdp.errors import InvalidInput
from predictions.ml.errors import MLError

# Refusals of an upload that are about its target column rather than the file.
TARGET_CODES = (
    "target_required",
    "no_target",
    "too_few_rows",
    "constant_target",
    "single_class",
    "too_many_classes",
    "text_target",
    "empty_target",
)

MESSAGES = {
    "no_target": _("The table has no column “%(target)s”; pick the target among its columns."),
    "too_few_rows": _("The table has %(rows)s usable rows; training needs at least %(minimum)s."),
    "constant_target": _("The target has one value in every row: there is nothing to learn."),
    "single_class": _("The target has a single class: a classifier needs at least two."),
    "too_many_classes": _(
        "The target has %(classes)s classes; a classifier here takes at most %(maximum)s."
    ),
    "text_target": _(
        "The target “%(target)s” holds text, not numbers: it cannot be predicted by regression."
    ),
    "empty_target": _("The target column is empty."),
    "unknown_column": _("The table has no column “%(column)s”."),
    "target_ignored": _("The target cannot be ignored."),
    "type_mismatch": _("The values of “%(column)s” are not of the type “%(type)s”."),
    "empty_column": _("The column “%(column)s” is empty: ignore it."),
    "no_features": _("No column is left to learn from: keep at least one besides the target."),
    "unknown_algorithm": _("There is no algorithm “%(algorithm)s”."),
    "no_usable_columns": _("This dataset has no column this algorithm can use."),
    "invalid_hyperparameters": _("Some hyperparameters are not valid: %(summary)s"),
    "single_class_split": _("The training rows hold a single class; add rows of other classes."),
    "missing_target": _("Some rows have no target value."),
    "too_few_rows_per_class": _(
        "Some classes have too few rows for this algorithm; add rows or choose another one."
    ),
    "target_type": _("The target's type cannot be changed; choose the task instead."),
    "not_explainable": _("This model cannot explain its predictions."),
    "dataset_deleted": _("The dataset was deleted before the training ran."),
    "model_deleted": _("The model to retrain was deleted meanwhile."),
}


def customer_error(error: MLError) -> InvalidInput:
    """An InvalidInput in the customer's language with the error's code and facts."""
    params = dict(error.params)
    if error.code == "invalid_hyperparameters":
        params.setdefault(
            "summary", "; ".join(problem["message"] for problem in params.get("problems", []))
        )
    template = MESSAGES.get(error.code)
    try:
        message = str(template) % params if template is not None else error.message
    except (KeyError, TypeError, ValueError):
        message = error.message
    return InvalidInput(message, code=error.code, **error.params)
