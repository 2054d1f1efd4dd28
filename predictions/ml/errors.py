from __future__ import annotations

from typing import Any


class MLError(Exception):
    """A problem with what a customer or operator gave us, described for people.

    `code` is stable (the web layer translates by it), `message` is English with `params`
    already filled in, `params` are the facts (column names, limits) for a translation."""

    code = "ml_error"

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params
        if code:
            self.code = code


class TableError(MLError):
    """A file that cannot be read as a table (type, size, encoding, layout, columns)."""

    code = "invalid_table"


class ArtifactError(MLError):
    """A model file that must not or cannot be loaded."""

    code = "invalid_artifact"
