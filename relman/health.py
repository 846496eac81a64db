"""Probes for a supervisor or load balancer: ``/healthz`` (the process serves) and
``/readyz`` (it can work: the database and the broker answer).

Neither needs sign-in, and neither says more than which dependency failed: no URL, host or
error text reaches the response (the log has the error).
"""

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.contrib.auth.decorators import login_not_required
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from relman.celery import app

logger = logging.getLogger(__name__)

# A probe answers within about this many seconds whatever its dependencies do: a dead
# host can leave a connection attempt hanging for minutes.
TIMEOUT_SECONDS = 2.0
_FILESYSTEM_FOLDERS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


def check_database() -> None:
    """Runs ``SELECT 1`` on a new connection of its own, which on PostgreSQL gives up
    connecting after the timeout instead of holding its thread for minutes."""
    default = connections["default"]
    options = dict(default.settings_dict["OPTIONS"])
    if default.vendor == "postgresql":
        options["connect_timeout"] = max(2, round(TIMEOUT_SECONDS))  # libpq's minimum is 2
    connection = type(default)({**default.settings_dict, "OPTIONS": options}, "default")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


def check_broker() -> None:
    """Connects to the broker; for the filesystem broker, its folders must exist."""
    if str(app.conf.broker_url).startswith("filesystem:"):
        options = app.conf.broker_transport_options
        missing = [key for key in _FILESYSTEM_FOLDERS if key in options and not Path(options[key]).is_dir()]
        if missing:
            raise FileNotFoundError(f"broker folders missing: {', '.join(missing)}")
        return
    # A socket timeout too: a host that accepts connections and never answers (a hung Redis)
    # would otherwise keep this thread forever.
    timeouts = {"socket_timeout": TIMEOUT_SECONDS, "socket_connect_timeout": TIMEOUT_SECONDS}
    with app.connection_for_write(
        connect_timeout=TIMEOUT_SECONDS,
        transport_options={**app.conf.broker_transport_options, **timeouts},
    ) as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=TIMEOUT_SECONDS)


CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "broker": check_broker}


def failures(timeout: float = TIMEOUT_SECONDS) -> list[str]:
    """The names of the checks that failed or did not finish within ``timeout``, all run at
    once. A check that hangs is left to finish in its daemon thread."""
    passed: set[str] = set()

    def run(name: str, check: Callable[[], None]) -> None:
        try:
            check()
        except Exception:
            logger.warning("Readiness check failed: %s", name, exc_info=True)
        else:
            passed.add(name)

    # Each thread logs with the request's context (its request id).
    threads = [
        threading.Thread(
            target=contextvars.copy_context().run, args=(run, name, check), name=f"readyz-{name}", daemon=True
        )
        for name, check in CHECKS.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    failed = [name for name in CHECKS if name not in passed]
    for name, thread in zip(CHECKS, threads, strict=True):
        if name in failed and thread.is_alive():
            logger.warning("Readiness check timed out after %s s: %s", timeout, name)
    return failed


@login_not_required
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    failed = failures()
    if failed:
        return JsonResponse({"status": "unavailable", "failed": failed}, status=503)
    return JsonResponse({"status": "ok", "checked": list(CHECKS)})
