"""The predictions app's writes and rules: the model registry and prediction jobs."""

from .jobs import (
    Quote,
    cancel,
    fail_silent_jobs,
    inspect_upload,
    purge_old_files,
    quote,
    run_job,
    settle,
    submit_batch,
    submit_single,
)
from .registry import (
    ModelVersionRefused,
    model_publish,
    model_set_default_version,
    register_manifest,
    version_create,
    version_update,
)

__all__ = [
    "ModelVersionRefused",
    "Quote",
    "cancel",
    "fail_silent_jobs",
    "inspect_upload",
    "model_publish",
    "model_set_default_version",
    "purge_old_files",
    "quote",
    "register_manifest",
    "run_job",
    "settle",
    "submit_batch",
    "submit_single",
    "version_create",
    "version_update",
]
