"""Celery tasks: thin, idempotent wrappers around the engine."""

import logging

from celery import shared_task

from releases import engine
from relman.logs import deployment_context

logger = logging.getLogger(__name__)


@shared_task(name=engine.ADVANCE_TASK, acks_late=True)
def deployment_advance_task(deployment_id: int) -> None:
    """Advances one deployment as far as it can go; delivering it twice is harmless."""
    with deployment_context(deployment_id):
        engine.deployment_advance(deployment_id)


@shared_task(acks_late=True)
def deployments_sweep_task() -> None:
    """Periodic (Celery beat): repairs deployments that should be moving and are not."""
    done = engine.deployments_sweep()
    if any(done.values()):
        logger.info("Sweep: %s", done)


@shared_task(name=engine.HELPER_TASK, acks_late=True)
def helper_execute_task(run_id: int, attempt: int) -> None:
    """Runs a manual step's helper script on the built-in runner; delivering it twice is
    harmless (the run is claimed once)."""
    engine.helper_execute(run_id, attempt)
