"""API wiring shared by every app: one error shape, one pagination."""

from django.http import Http404, JsonResponse
from django.urls import is_valid_path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
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


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable: clients branch on it.")
    detail = serializers.CharField(help_text="For people, in the request's language.")

    class Meta:
        ref_name = "Error"


def error_response(*codes: str) -> OpenApiResponse:
    """An error answer for the schema, naming the codes it may carry."""
    return OpenApiResponse(ErrorSerializer, description=", ".join(f"`{code}`" for code in codes))


COMMON_ERRORS = {
    "401": ("`not_authenticated`, `invalid_token`, `malformed_authorization`", True),
    "404": ("`not_found`", False),
    "429": ("`throttled`, with `Retry-After` (seconds)", False),
}


def document_common_errors(result, generator, request, public):
    """drf-spectacular hook: the errors any operation may answer, in the one error shape,
    added where a view did not describe them itself."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "Error",
        {
            "type": "object",
            "properties": {"code": {"type": "string"}, "detail": {"type": "string"}},
            "required": ["code", "detail"],
        },
    )
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            needs_token = bool(operation.get("security")) and {} not in operation["security"]
            for status_code, (description, only_with_token) in COMMON_ERRORS.items():
                if only_with_token and not needs_token:
                    continue
                operation["responses"].setdefault(
                    status_code, {"description": description, "content": content}
                )
    return result
