"""The base of every domain error. Each app defines its own subclasses next to its services;
the API's exception handler and the pages map them to responses in one place each."""

from typing import Any


class DomainError(Exception):
    """A rule of the business said no. `code` is stable (clients branch on it); the message
    is translated for people; `details` are extra facts for clients (e.g. a shortfall)."""

    code = "domain_error"
    http_status = 400

    def __init__(self, message: str = "", *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code


class InvalidInput(DomainError):
    code = "invalid_input"
