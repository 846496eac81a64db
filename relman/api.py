"""Shared API plumbing: pagination and the error format ``{"detail", "code"}``."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from relman.exceptions import DomainError


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def exception_handler(exc, context):
    """Domain refusals become 400/403/409 with ``{"detail", "code"}``; DRF's own errors
    keep their status and gain a ``code``; field errors keep DRF's usual shape."""
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
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
        errors = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = {**errors, "detail": _first_message(errors), "code": "invalid"}
    return response


def _first_message(errors) -> str:
    """The first field error as one sentence, e.g. ``version: This field is required.``"""
    for field, value in errors.items():
        while isinstance(value, dict | list) and value:
            value = next(iter(value.values())) if isinstance(value, dict) else value[0]
        prefix = "" if field == "non_field_errors" else f"{field}: "
        return f"{prefix}{value}"
    return "Invalid input."
