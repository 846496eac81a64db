"""Celery tasks: thin, idempotent wrappers around notifications.outbox (queue ``system``)."""

import logging

from celery import shared_task

from notifications import outbox

logger = logging.getLogger(__name__)


@shared_task(name=outbox.FAN_OUT_TASK, acks_late=True)
def event_fan_out_task(event_id: int) -> None:
    """Writes an event's deliveries and publishes them; a second run finds it done."""
    outbox.fan_out(event_id)


@shared_task(name=outbox.SEND_TASK, acks_late=True)
def delivery_send_task(delivery_id: int) -> None:
    """Sends one delivery if it is due; a second run finds it claimed or finished."""
    outbox.send(delivery_id)


@shared_task(acks_late=True)
def notifications_sweep_task() -> None:
    """Periodic (Celery beat): retries that came due, and what a lost message left behind."""
    done = outbox.sweep()
    if any(done.values()):
        logger.info("Notifications sweep: %s", done)
