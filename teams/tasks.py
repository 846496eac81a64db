"""Celery tasks of the teams app: thin wrappers around teams.audit."""

import logging

from celery import shared_task

from teams.audit import audit_seal

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def audit_seal_task() -> int:
    """Periodic (Celery beat, every RELMAN_AUDIT_SEAL_SECONDS): chains the audit events
    recorded since the last run. Safe to run twice or on two workers at once: sealers
    take turns on the chain head's lock, and an event is sealed only once."""
    sealed = audit_seal()
    if sealed:
        logger.debug("Sealed %d audit events.", sealed)
    return sealed
