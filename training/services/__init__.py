"""Own models' writes and rules: datasets (upload, schema, exploration) and trainings
(quote, submit, run, cancel, settle)."""

from .datasets import (
    compute_profile,
    dataset_confirm,
    dataset_delete,
    dataset_frame,
    dataset_revise,
    dataset_schema,
    dataset_upload,
)
from .models import (
    Comparison,
    compare,
    model_delete,
    purge_deleted_models,
    version_activate,
)
from .trainings import (
    DatasetNotConfirmed,
    TrainingQuote,
    WrongTask,
    fail_silent_trainings,
    run_training,
    settle_training,
    training_cancel,
    training_quote,
    training_submit,
)

__all__ = [
    "Comparison",
    "DatasetNotConfirmed",
    "TrainingQuote",
    "WrongTask",
    "compare",
    "compute_profile",
    "dataset_confirm",
    "dataset_delete",
    "dataset_frame",
    "dataset_revise",
    "dataset_schema",
    "dataset_upload",
    "fail_silent_trainings",
    "model_delete",
    "purge_deleted_models",
    "run_training",
    "settle_training",
    "training_cancel",
    "training_quote",
    "training_submit",
    "version_activate",
]
