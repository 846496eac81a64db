"""The outbox: events recorded inside the transaction of the change they tell about, and
delivered by workers after it commits.

1. ``record`` is the engine's one call (releases.engine): an ``Event`` row with the facts
   as plain data, one INSERT in the caller's transaction, and a message to fan it out once
   that commits. A rolled-back change leaves no event; a committed one always has its row.
2. ``fan_out`` (a worker, after commit) writes the event's deliveries: a mail per person
   who may take the step (and per ``notify`` address), a call per matching webhook. Who
   that is and which webhooks match are read here, not in the engine's transaction, so a
   step that waits costs the engine one statement however many people are told.
3. ``send`` claims a due delivery with a compare-and-set on its due time (a lease), sends
   it through its channel's ``Transport`` outside any transaction, and records the
   attempt: delivered on success, else retried after ``RETRY_DELAYS``, then failed.
4. ``sweep`` (periodic) fans out events and sends deliveries that a lost message or a
   killed worker left behind, and the retries that came due. Nothing is counted down in
   the broker: every "later" is a due time in a row. It also deletes events past their
   retention (``purge``).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from notifications.channels import TRANSPORTS
from notifications.choices import (
    EMAILED_EVENTS,
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    Channel,
    DeliveryState,
    EventKind,
)
from notifications.models import Attempt, Delivery, Event, Webhook
from notifications.recipients import interruption_recipients
from relman.queue import enqueue_on_commit, publish
from teams.models import User

if TYPE_CHECKING:
    from collections.abc import Iterable

    from releases.models import Deployment, Interruption
    from teams.models import Team

logger = logging.getLogger(__name__)

FAN_OUT_TASK = "notifications.tasks.event_fan_out_task"
SEND_TASK = "notifications.tasks.delivery_send_task"
# An event not fanned out this long after it was recorded lost its message.
FAN_OUT_GRACE = timedelta(seconds=10)
SWEEP_BATCH = 500


def deployment_url(deployment_id: int) -> str:
    return settings.RELMAN_BASE_URL + reverse("releases:deployment_detail", args=[deployment_id])


# --- 1. recording ------------------------------------------------------------------------


def record(
    kind: str,
    deployment: Deployment,
    *,
    interruption: Interruption | None = None,
    teams: Iterable[Team] | None = None,
    actor: User | None = None,
) -> Event:
    """Records the event in the caller's transaction; it is delivered after commit. The
    deployment's release, project and environment must be loaded (the engine's verbs hold
    them); ``teams`` are the interruption's responsible teams when the caller has them."""
    payload = {
        "project": deployment.project.name,
        "release": deployment.release.version,
        "environment": deployment.environment.name,
        "url": deployment_url(deployment.pk),
        "created_by_id": deployment.created_by_id,
    }
    if interruption is not None:
        teams = list(interruption.responsible_teams.all() if teams is None else teams)
        payload |= {
            "step": interruption.title,
            "instructions": interruption.instructions,
            "responsible_teams": [team.name for team in teams],
            "team_ids": [team.pk for team in teams],
            "prevent_self_approval": interruption.prevent_self_approval,
            "notify": interruption.step.release_step.notify if kind in EMAILED_EVENTS else [],
            "reminder": interruption.reminders_sent,
        }
    if actor is not None:
        payload["answered_by"] = actor.label
    if interruption is not None and kind == EventKind.INTERRUPTION_ANSWERED:
        payload["result"] = interruption.result or interruption.guidance
    event = Event.objects.create(
        kind=kind,
        deployment_id=deployment.pk,
        project_id=deployment.project_id,
        environment_id=deployment.environment_id,
        payload=payload,
    )
    enqueue_on_commit(FAN_OUT_TASK, event.pk)
    return event


# --- 2. fanning out ----------------------------------------------------------------------


@transaction.atomic
def fan_out(event_id: int) -> list[int]:
    """Writes the event's deliveries, once (the event row is locked and marked); returns
    them, and publishes their sending after commit."""
    event = Event.objects.select_for_update().filter(pk=event_id, fanned_out_at__isnull=True).first()
    if event is None:
        return []
    now = timezone.now()
    deliveries = [
        Delivery(event=event, channel=Channel.WEBHOOK, webhook=webhook, due_at=now)
        for webhook in matching_webhooks(event)
    ]
    if event.kind in EMAILED_EVENTS and settings.RELMAN_EMAIL_ENABLED:
        deliveries += [
            Delivery(event=event, channel=Channel.EMAIL, address=address, due_at=now)
            for address in mail_addresses(event)
        ]
        creator = User.objects.filter(pk=event.payload["created_by_id"]).first()
        event.payload["asked_by"] = creator.label if creator else "the system (an automatic deployment)"
    event.fanned_out_at = now
    event.save(update_fields=["fanned_out_at", "payload"])
    created = Delivery.objects.bulk_create(deliveries)
    ids = [delivery.pk for delivery in created]
    for delivery_id in ids:
        enqueue_on_commit(SEND_TASK, delivery_id)
    return ids


def matching_webhooks(event: Event) -> list[Webhook]:
    """Active webhooks that take this kind of event, for its project and environment."""
    hooks = Webhook.objects.filter(active=True).prefetch_related("projects", "environments")
    return [
        hook
        for hook in hooks
        if (not hook.events or event.kind in hook.events)
        and _in_filter(event.project_id, hook.projects.all())
        and _in_filter(event.environment_id, hook.environments.all())
    ]


def _in_filter(pk: int | None, chosen) -> bool:
    return not chosen or pk in {item.pk for item in chosen}


def mail_addresses(event: Event) -> list[str]:
    """One address per person, whatever the number of their teams that are responsible,
    then the step's ``notify`` addresses not already there."""
    addresses: dict[str, str] = {}
    for person in interruption_recipients(event):
        addresses.setdefault(person.email.lower(), person.email)
    for address in event.payload["notify"]:
        addresses.setdefault(address.lower(), address)
    return list(addresses.values())


# --- 3. sending --------------------------------------------------------------------------


def send(delivery_id: int) -> str | None:
    """Sends a pending delivery that is due, once: returns its new state, or None when it
    was not due (delivered, failed, waiting for its retry, or being sent by another worker).

    A worker that dies while sending leaves the delivery claimed until its lease ends; the
    sweep then sends it again as the same attempt."""
    now = timezone.now()
    lease = now + timedelta(seconds=3 * settings.RELMAN_NOTIFICATION_TIMEOUT_SECONDS)
    claimed = Delivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING, due_at__lte=now).update(
        due_at=lease
    )
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("event", "webhook").get(pk=delivery_id)
    started_at, started = timezone.now(), time.monotonic()
    result = TRANSPORTS[delivery.channel](delivery).send()
    duration_ms = int((time.monotonic() - started) * 1000)
    return _record_attempt(delivery, result, started_at=started_at, duration_ms=duration_ms)


@transaction.atomic
def _record_attempt(delivery: Delivery, result, *, started_at, duration_ms: int) -> str | None:
    number = delivery.attempts + 1
    now = timezone.now()
    if result.succeeded:
        changes = {"state": DeliveryState.DELIVERED, "due_at": None, "finished_at": now}
    elif number >= MAX_ATTEMPTS:
        changes = {"state": DeliveryState.FAILED, "due_at": None, "finished_at": now}
    else:
        changes = {"due_at": now + RETRY_DELAYS[number - 1]}
    # Only if no one recorded this attempt meanwhile (a sweep that took over after the lease).
    if not Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING, attempts=number - 1).update(
        attempts=number, **changes
    ):
        return None
    Attempt.objects.create(
        delivery=delivery,
        number=number,
        started_at=started_at,
        duration_ms=duration_ms,
        status_code=result.status_code,
        error=result.error,
        response=result.response,
        succeeded=result.succeeded,
    )
    if not result.succeeded:
        logger.warning("Delivery %s attempt %d failed: %s", delivery.uuid, number, result.error)
    return changes.get("state", DeliveryState.PENDING)


def enqueue_delivery(*, event: Event, webhook: Webhook) -> Delivery:
    """A new delivery of the event to the webhook, sent after commit (Send test, Redeliver)."""
    delivery = Delivery.objects.create(
        event=event, channel=Channel.WEBHOOK, webhook=webhook, due_at=timezone.now()
    )
    enqueue_on_commit(SEND_TASK, delivery.pk)
    return delivery


# --- 4. the sweep ------------------------------------------------------------------------


def sweep() -> dict[str, int]:
    """Publishes the fan-out of events whose message was lost, and the sending of
    deliveries that are due (retries, and those a lost message or a dead worker left)."""
    now = timezone.now()
    events = list(
        Event.objects.filter(fanned_out_at__isnull=True, created_at__lt=now - FAN_OUT_GRACE).values_list(
            "pk", flat=True
        )[:SWEEP_BATCH]
    )
    for event_id in events:
        publish(FAN_OUT_TASK, event_id)
    due = list(
        Delivery.objects.filter(state=DeliveryState.PENDING, due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for delivery_id in due:
        publish(SEND_TASK, delivery_id)
    return {"fanned_out": len(events), "sent": len(due), "purged": purge(now)}


def purge(now: datetime) -> int:
    """Deletes, a batch per sweep, the events older than RELMAN_NOTIFICATION_RETENTION_DAYS
    with their deliveries and attempts, once none of their deliveries is still pending
    (0 days: keep them all). What happened to deployments stays in their task logs and the
    audit trail; this is only the record of who was told. Returns how many events."""
    days = settings.RELMAN_NOTIFICATION_RETENTION_DAYS
    if not days:
        return 0
    pending = Delivery.objects.filter(event=OuterRef("pk"), state=DeliveryState.PENDING)
    old = list(
        Event.objects.filter(created_at__lt=now - timedelta(days=days), fanned_out_at__isnull=False)
        .exclude(Exists(pending))
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    if old:
        Event.objects.filter(pk__in=old).delete()
    return len(old)
