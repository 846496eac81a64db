"""Sending Celery messages only once the transaction that needs them has committed."""

import logging

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)


def publish(task: Task, *args) -> None:
    """Publishes ``task(*args)`` now. A publish that fails (broker down) is logged, not
    raised: the state change it follows is already committed, and the periodic sweep
    re-sends whatever should be moving."""
    try:
        task.delay(*args)
    except Exception:
        if task.app.conf.task_always_eager:
            raise
        logger.exception("Could not publish %s%r; the sweep will pick it up", task.name, args)


def enqueue_on_commit(task: Task, *args) -> None:
    """Publishes ``task(*args)`` after the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: publish(task, *args))
