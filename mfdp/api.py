"""API wiring shared by every app: one error shape, one pagination."""

from django.http import Http404, JsonResponse
from django.urls import is_valid_path
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from mfdp.errors import DomainError

# DRF's default codes, renamed where a client deserves a clearer one.
CODE_NAMES = {"parse_error": "malformed_request"}


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


def exception_handler(exc, context):
    """Every API error as JSON `{"code", "detail"}`, plus `errors` for field problems."""
    if isinstance(exc, DomainError):
        body = {"code": exc.code, "detail": exc.message, **exc.details}
        return Response(body, status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid_input",
            "detail": _("The request has invalid fields."),
            "errors": exc.detail,
        }
        return response
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    code = codes if isinstance(codes, str) else getattr(exc, "default_code", "error")
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = {"code": CODE_NAMES.get(code, code), "detail": str(detail)}
    return response


def json_not_found(request, exception=None):
    detail = _("No such endpoint.")
    if not request.path_info.endswith("/") and is_valid_path(request.path_info + "/"):
        detail = _("No such endpoint. Did you mean %(path)s/ (with the trailing slash)?") % {
            "path": request.path
        }
    return JsonResponse({"code": "not_found", "detail": detail}, status=status.HTTP_404_NOT_FOUND)


def json_server_error(request):
    return JsonResponse(
        {"code": "server_error", "detail": _("Something went wrong on our side.")},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
