"""A request id for every web request, so its log lines, and those of the tasks it
publishes, can be found together.

A caller's (or proxy's) ``X-Request-ID`` is kept when it is a plain token, so the id
follows a request across systems; otherwise Relman makes one. Either way the response
carries it back.
"""

import re
import uuid
from collections.abc import Callable

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

from relman import logs

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Probes must answer while the database is down, so their user is never looked up.
_NO_USER_PATHS = frozenset({"/healthz", "/readyz"})


def accept_or_new(value: str | None) -> str:
    """The caller's id if it is at most 64 of [A-Za-z0-9._-] (nothing that could forge a
    log line or a header), else a fresh one."""
    if value and _SANE.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Sets the log context for the request; goes after AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        logs.clear()
        request_id = accept_or_new(request.headers.get(HEADER))
        logs.request_id.set(request_id)
        if request.path not in _NO_USER_PATHS:
            logs.request.set(request)
            # Resolved now (no query without a session cookie), so that naming the user in
            # a log line later never reads the database, perhaps in a failed transaction.
            logs.current_user()
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


def _forget(**kwargs: object) -> None:
    """The context lasts until the response is closed, not until this middleware returns:
    Django logs a 4xx or 5xx response after the middleware chain has finished."""
    logs.clear()


request_finished.connect(_forget, dispatch_uid="relman.requestid.forget")
