"""What a log line says about its circumstances: the request id, who asked, and which
deployment, and the JSON format that writes them (``RELMAN_LOG_FORMAT=json``).

They live in context variables, so each thread serving a request and each task a worker
runs sees its own. ``relman.requestid`` sets them for a web request; ``relman.celery``
carries the request's into every task published while it runs; a task that works on one
deployment names it with ``deployment_context``.
"""

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest

request_id: ContextVar[str | None] = ContextVar("relman_request_id", default=None)
deployment_id: ContextVar[int | None] = ContextVar("relman_deployment_id", default=None)
# In a web process, the request itself: its user may only be known once the API has read
# an API key, after the middleware ran. In a worker, the name carried by the task instead.
request: ContextVar["HttpRequest | None"] = ContextVar("relman_request", default=None)
carried_user: ContextVar[str | None] = ContextVar("relman_user", default=None)

# Names of the Celery message headers that carry the context into a worker.
REQUEST_ID_HEADER = "relman_request_id"
USER_HEADER = "relman_user"


def current_user() -> str | None:
    """The username of who caused what is happening now, where known."""
    current = request.get()
    if current is None:
        return carried_user.get()
    # relman.requestid resolved the user before the view ran, so this reads no database.
    user = getattr(current, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return user.get_username()


def context() -> dict[str, str | int]:
    """The known parts of the current context, by the names a JSON log line uses."""
    known = {"request_id": request_id.get(), "user": current_user(), "deployment_id": deployment_id.get()}
    return {key: value for key, value in known.items() if value is not None}


def clear() -> None:
    request_id.set(None)
    request.set(None)
    carried_user.set(None)
    deployment_id.set(None)


def carry() -> dict[str, str]:
    """The message headers that hand the current context to a task."""
    headers = {REQUEST_ID_HEADER: request_id.get(), USER_HEADER: current_user()}
    return {key: value for key, value in headers.items() if value is not None}


def restore(headers: Mapping[str, object]) -> None:
    """Takes up the context a task's message carried (nothing, for a task beat sent)."""
    clear()
    carried_id = headers.get(REQUEST_ID_HEADER)
    carried_name = headers.get(USER_HEADER)
    request_id.set(carried_id if isinstance(carried_id, str) else None)
    carried_user.set(carried_name if isinstance(carried_name, str) else None)


@contextmanager
def deployment_context(pk: int) -> Iterator[None]:
    """Lines logged inside the block name the deployment ``pk``."""
    token = deployment_id.set(pk)
    try:
        yield
    finally:
        deployment_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, the known
    parts of the context, and the exception's traceback if there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **context(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)
