"""Fixtures shared with the apps whose services the housekeeping tasks call."""

from tests.predictions.conftest import customer, price_version, tiny_models  # noqa: F401
from tests.webhooks.conftest import allow_private, make_job, receiver, version  # noqa: F401
