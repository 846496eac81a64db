"""Sending Celery messages only once the transaction that needs them has committed.

Tasks are named, not imported: the code that decides a task must run (an app's engine)
sits below the ``tasks.py`` that calls into it, so it names the task and the registry finds
it. Each app's ``AppConfig.ready`` imports its ``tasks`` module, so every process knows
every task by name.
"""

import logging

from django.db import transaction

from relman.celery import app

logger = logging.getLogger(__name__)


def publish(task_name: str, *args) -> None:
    """Publishes the task now. A publish that fails (broker down) is logged, not raised:
    the state change it follows is already committed, and the periodic sweep re-sends
    whatever should be moving."""
    task = app.tasks[task_name]
    try:
        task.delay(*args)
    except Exception:
        if app.conf.task_always_eager:
            raise
        logger.exception("Could not publish %s%r; the sweep will pick it up", task_name, args)


def enqueue_on_commit(task_name: str, *args) -> None:
    """Publishes the task after the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: publish(task_name, *args))
