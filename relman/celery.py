import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

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
