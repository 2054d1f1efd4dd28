import re
import uuid

from django.core.signals import request_finished
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware

from mfdp import logging as mfdp_logging

SANE_REQUEST_ID = re.compile(r"[a-zA-Z0-9-]{1,64}")


class CommonMiddleware(DjangoCommonMiddleware):
    """Django's, minus the trailing-slash redirect under /api/: a redirect would drop a POST's
    body, so an API client gets a JSON 404 that names the problem instead."""

    def should_redirect_with_slash(self, request) -> bool:
        if request.path_info.startswith("/api/"):
            return False
        return super().should_redirect_with_slash(request)


class RequestIdMiddleware:
    """Gives each request an id: the caller's X-Request-ID when it is sane, otherwise a new one.
    Log records of the request carry it (mfdp.logging) and the response echoes it back."""

    header = "X-Request-ID"

    def __init__(self, get_response):
        self.get_response = get_response
        request_finished.connect(_forget_request_id, dispatch_uid="mfdp.forget_request_id")

    def __call__(self, request):
        incoming = request.headers.get(self.header, "")
        value = incoming if SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = value
        # Not reset on the way out: Django logs a 4xx/5xx after the last middleware returns,
        # so the id is forgotten only once the server closes the response (request_finished).
        mfdp_logging.request_id.set(value)
        response = self.get_response(request)
        response[self.header] = value
        return response


def _forget_request_id(**_kwargs) -> None:
    mfdp_logging.request_id.set(None)
