"""Shared API plumbing: pagination, the error model ``{"detail", "code", "errors"?}`` and
its schema, the permission classes for configuration, and the YAML document format."""

import io
import json

import yaml
from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, parsers, permissions, renderers, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils import encoders
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from relman.exceptions import DomainError


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def exception_handler(exc, context):
    """Every refusal is one shape, ``{"detail", "code", "errors"?}`` (``ErrorSerializer``).

    Domain refusals become 400/403/409, as does a body over DATA_UPLOAD_MAX_MEMORY_SIZE
    (raised when a view reads ``request.data``); DRF's own errors keep their status and gain
    a ``code``; invalid input is 400 ``invalid`` with its field errors under ``errors``."""
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {
                "detail": f"A request body is limited to {limit:,} bytes; this one is larger.",
                "code": "too_large",
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        response.data = {"detail": str(detail), "code": getattr(detail, "code", "error")}
    elif response.status_code == status.HTTP_400_BAD_REQUEST:
        errors = field_errors(response.data)
        field, messages = next(iter(errors.items()), (NON_FIELD, ["Invalid input."]))
        detail = messages[0] if field == NON_FIELD else f"{field}: {messages[0]}"
        response.data = {"detail": detail, "code": "invalid", "errors": errors}
    return response


NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


def field_errors(data) -> dict[str, list[str]]:
    """DRF's nested errors flattened to ``{path: [messages]}``, one level a typed client can
    read: ``{"steps": [{}, {"script": [m]}]}`` becomes ``{"steps[1].script": [m]}``."""
    flat: dict[str, list[str]] = {}

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                key = str(key)
                walk(item, f"{path}[{key}]" if key.isdigit() else f"{path}.{key}" if path else key)
        elif isinstance(value, list) and all(not isinstance(item, dict | list) for item in value):
            if value:
                flat.setdefault(path or NON_FIELD, []).extend(str(item) for item in value)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")
        else:
            flat.setdefault(path or NON_FIELD, []).append(str(value))

    walk(data, "")
    return flat


class ErrorSerializer(serializers.Serializer):
    """Every refusal (each 4xx): a sentence a person can act on, a stable code for programs
    and, for invalid input, each field's messages."""

    detail = serializers.CharField(help_text="What is wrong, as a sentence a person can act on.")
    code = serializers.CharField(
        help_text="Stable for programs: invalid, not_found, duplicate_version, already_taken, …"
    )
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Invalid input only: messages by field path, e.g. "
        '{"steps[1].script": ["A script step needs a script."]}.',
    )


ERROR_DESCRIPTIONS = {
    "400": "Invalid input; nothing was changed. Field messages are under errors.",
    "401": "No credentials, or an unknown, revoked or expired API key.",
    "403": "Not allowed; the detail names the role or team that is missing.",
    "404": "Not found, or not visible to you.",
    "409": "The object's state does not allow this (a duplicate, already taken, already finished, lifecycle).",
    "415": "The body is not in a format this endpoint reads (JSON; the process document also YAML).",
    "429": "Too many requests; retry after the number of seconds in Retry-After.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error responses of an endpoint, for ``@extend_schema(responses=…)``."""
    return {
        status_code: OpenApiResponse(ErrorSerializer, ERROR_DESCRIPTIONS[str(status_code)])
        for status_code in statuses
    }


class IsSuperuserOrReadOnly(permissions.BasePermission):
    """Configuration (environments, lifecycles, users, teams) is read by everyone signed in
    and changed by superusers; the services check again."""

    message = "Only superusers may change this configuration."

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            # Replacing the default IsAuthenticated, so it checks sign-in itself.
            return bool(request.user and request.user.is_authenticated)
        return bool(request.user and request.user.is_active and request.user.is_superuser)


class IsSuperuser(permissions.BasePermission):
    """Objects that name projects across every scope (freezes) are for superusers only."""

    message = "Only superusers may read or change this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_active and request.user.is_superuser)


class DocumentTooLarge(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "too_large"


def read_document(stream) -> bytes:
    """The body of an imported document, refused past RELMAN_PROCESS_DOCUMENT_MAX_BYTES.

    Reads one byte more than the limit and no further, so an oversized body is neither held
    in memory nor parsed. Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not apply here: it
    guards ``request.body``, and a parser reads the stream."""
    limit = settings.RELMAN_PROCESS_DOCUMENT_MAX_BYTES
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise DocumentTooLarge(f"A document is limited to {limit:,} bytes; this one is larger.")
    return body


class DocumentJSONParser(parsers.JSONParser):
    """``Content-Type: application/json`` for an imported document, within its size limit."""

    def parse(self, stream, media_type=None, parser_context=None):
        return super().parse(io.BytesIO(read_document(stream)), media_type, parser_context)


class YAMLParser(parsers.BaseParser):
    """``Content-Type: application/yaml``: the import format of documents such as a
    project's process, within their size limit."""

    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return yaml.safe_load(read_document(stream).decode("utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"YAML parse error - {exc}") from exc


class YAMLRenderer(renderers.BaseRenderer):
    """``Accept: application/yaml``: the export format, keys in the order the API uses."""

    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        # Through JSON first, so dates, decimals and DRF's dict/list types become plain values.
        plain = json.loads(json.dumps(data, cls=encoders.JSONEncoder))
        return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True).encode(self.charset)


class WholeListSerializer(serializers.ListSerializer):
    """A nested list that a write replaces as a whole (a lifecycle's phases, a team's
    role grants): its items are validated in full, defaults included, even in a PATCH."""

    def run_validation(self, data=serializers.empty):
        if not getattr(self.root, "partial", False) or data is serializers.empty:
            return super().run_validation(data)
        whole = self.child.__class__(data=data, many=True, context=self.context)
        if not whole.is_valid():
            raise serializers.ValidationError(whole.errors)
        return whole.validated_data


def document_errors(result: dict, generator, request, public) -> dict:
    """A schema post-processing hook: the refusals every operation can give, written once,
    each with the one error model.

    401 (no or a bad API key) and 429 (with ``Retry-After``) on every authenticated
    operation; 404 on every operation with a path parameter or a page; 400 on every one
    that reads a body or query parameters; 415 on every one that reads a body."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    retry_after = {
        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}
    }
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            parameters = operation.get("parameters", [])
            statuses = []
            if operation.get("security") != [{}]:
                statuses += ["401", "429"]
            if any(parameter["in"] == "path" or parameter["name"] == "page" for parameter in parameters):
                statuses.append("404")
            if "requestBody" in operation or any(parameter["in"] == "query" for parameter in parameters):
                statuses.append("400")
            if "requestBody" in operation:
                statuses.append("415")
            responses = operation.setdefault("responses", {})
            for status_code in statuses:
                responses.setdefault(status_code, {"description": ERROR_DESCRIPTIONS[status_code]})
            for status_code, response in responses.items():
                if status_code.startswith("4"):
                    # JSON whatever the endpoint's other formats: a refusal is never a document.
                    response["content"] = error
            if "429" in responses:
                responses["429"]["headers"] = retry_after
            operation["responses"] = dict(sorted(responses.items()))
    return result


class NotFoundView(APIView):
    """Any other path under ``/api/v1/`` (an id that is not a number, a typo): a JSON 404
    in the API's error shape rather than the site's HTML page."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []
    schema = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise exceptions.NotFound("No API endpoint at this path; see /api/v1/docs/.")
