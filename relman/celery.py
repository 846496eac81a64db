import os

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    before_task_publish,
    task_postrun,
    task_prerun,
)

from relman import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relman.settings")

app = Celery("relman")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def recycle_database_connections(task=None, **kwargs) -> None:
    """Around every task, Django decides whether the worker's database connection lives on
    (CONN_MAX_AGE, health checks, errors), as it does around every web request. Celery's own
    default closes it after every task, and reconnecting to PostgreSQL then costs more than
    a typical engine step (settings.CELERY_DB_REUSE_MAX turns that off)."""
    if task is not None and task.request.is_eager:
        return  # in-process: the caller's connection and transaction are not ours to touch
    from django.db import close_old_connections

    close_old_connections()


@before_task_publish.connect
def carry_log_context(headers: dict | None = None, **kwargs) -> None:
    """A task published while a request is served carries its request id and user, so the
    worker's log lines about it can be found with the request's."""
    if headers is not None:
        headers.update(logs.carry())


@task_prerun.connect
def restore_log_context(task=None, **kwargs) -> None:
    if task is None or task.request.is_eager:
        return  # in-process: the caller's context is already the task's
    logs.restore(vars(task.request))


@task_postrun.connect
def clear_log_context(task=None, **kwargs) -> None:
    if task is None or task.request.is_eager:
        return
    logs.clear()


@after_setup_logger.connect
@after_setup_task_logger.connect
def log_in_configured_format(logger=None, **kwargs) -> None:
    """A worker's logging is Celery's own (its handlers replace Django's); with
    RELMAN_LOG_FORMAT=json they write JSON lines as the web processes do."""
    from django.conf import settings

    if logger is None or settings.RELMAN_LOG_FORMAT != "json":
        return
    for handler in logger.handlers:
        handler.setFormatter(logs.JsonFormatter())
