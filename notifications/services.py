"""Every write of the notifications app: webhooks (superusers), a delivery sent again, a
test message, and a person's mail preference. Each checks the actor and audits."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lifecycles.models import Environment
from notifications import outbox
from notifications.channels.webhook.addresses import url_refusal
from notifications.choices import DEPLOYMENT_EVENTS, EventKind, WebhookFormat
from notifications.models import Delivery, EmailPreference, Event, Webhook
from processes.models import Project
from relman import crypto
from relman.exceptions import InvalidInput, PermissionRefused
from teams.audit import audit_record
from teams.models import User
from teams.permissions import require_superuser


def _check(url: str, events: Sequence[str], format: str, server_host: str | None) -> None:
    refusal = url_refusal(url, server_host=server_host)
    if refusal:
        raise InvalidInput(refusal, code="invalid_url")
    unknown = [e for e in events if e not in DEPLOYMENT_EVENTS]
    if unknown:
        raise InvalidInput(
            f"Unknown event {unknown[0]!r}; choose among {', '.join(DEPLOYMENT_EVENTS)}.",
            code="invalid_event",
        )
    if format not in WebhookFormat.values:
        raise InvalidInput(f"Unknown format {format!r}; choose json or slack.", code="invalid_format")


def _summary(webhook: Webhook) -> dict:
    """The webhook as the audit trail records it: never the secret."""
    return {
        "name": webhook.name,
        "url": webhook.url,
        "events": webhook.events,
        "format": webhook.format,
        "active": webhook.active,
        "projects": sorted(p.slug for p in webhook.projects.all()),
        "environments": sorted(e.slug for e in webhook.environments.all()),
    }


@transaction.atomic
def webhook_create(
    *,
    name: str,
    url: str,
    events: Sequence[str] = (),
    projects: Sequence[Project] = (),
    environments: Sequence[Environment] = (),
    format: str = WebhookFormat.JSON,
    active: bool = True,
    secret: str = "",
    actor: User | None,
    source_ip: str | None = None,
    server_host: str | None = None,
) -> tuple[Webhook, str]:
    """Creates a webhook; returns it with its secret (made when not given), which is shown
    this once and stored encrypted.

    Refuses: an actor who is not a superuser (403); a URL that is not http(s) or points at
    this server, an unknown event or format (400)."""
    require_superuser(actor, "manage webhooks")
    _check(url, events, format, server_host)
    secret = secret or "whsec_" + secrets.token_urlsafe(32)
    webhook = Webhook(name=name.strip(), url=url.strip(), events=list(events), format=format, active=active)
    webhook.secret = secret
    webhook.save()
    webhook.projects.set(projects)
    webhook.environments.set(environments)
    audit_record(
        actor=actor, action="webhook.created", subject=webhook, changes=_summary(webhook), source_ip=source_ip
    )
    return webhook, secret


@transaction.atomic
def webhook_update(
    *,
    webhook: Webhook,
    actor: User | None,
    source_ip: str | None = None,
    server_host: str | None = None,
    **changes,
) -> Webhook:
    """Changes the given fields (name, url, events, projects, environments, format,
    active). Refuses as ``webhook_create`` does."""
    require_superuser(actor, "manage webhooks")
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    before = _summary(webhook)
    url = changes.get("url", webhook.url)
    _check(url, changes.get("events", webhook.events), changes.get("format", webhook.format), server_host)
    for name in ("name", "url", "events", "format", "active"):
        if name in changes:
            setattr(webhook, name, changes[name])
    webhook.save(update_fields=["name", "url", "events", "format", "active"])
    for name in ("projects", "environments"):
        if name in changes:
            getattr(webhook, name).set(changes[name])
    after = _summary(webhook)
    diff = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    if diff:
        audit_record(
            actor=actor, action="webhook.updated", subject=webhook, changes=diff, source_ip=source_ip
        )
    return webhook


@transaction.atomic
def webhook_delete(*, webhook: Webhook, actor: User | None, source_ip: str | None = None) -> None:
    """Deletes the webhook and its deliveries. Refuses an actor who is not a superuser."""
    require_superuser(actor, "manage webhooks")
    audit_record(
        actor=actor, action="webhook.deleted", subject=webhook, changes=_summary(webhook), source_ip=source_ip
    )
    webhook.delete()


@transaction.atomic
def webhook_send_test(*, webhook: Webhook, actor: User | None, source_ip: str | None = None) -> Delivery:
    """Sends a ``webhook.test`` event to this webhook alone, after commit."""
    require_superuser(actor, "send test messages")
    event = Event.objects.create(
        kind=EventKind.WEBHOOK_TEST,
        payload={"url": settings.RELMAN_BASE_URL + webhook.get_absolute_url()},
        fanned_out_at=timezone.now(),
    )
    return outbox.enqueue_delivery(event=event, webhook=webhook)


@transaction.atomic
def delivery_redeliver(*, delivery: Delivery, actor: User | None, source_ip: str | None = None) -> Delivery:
    """Sends the delivery's event to its webhook again, as a new delivery (a new
    X-Relman-Delivery id, its own attempts). Refuses an actor who is not a superuser, and
    a mail (400): people are not mailed twice about one step."""
    require_superuser(actor, "redeliver webhooks")
    if delivery.webhook_id is None:
        raise InvalidInput("Only webhook deliveries can be sent again.", code="not_a_webhook")
    again = outbox.enqueue_delivery(event=delivery.event, webhook=delivery.webhook)
    audit_record(
        actor=actor,
        action="webhook.redelivered",
        subject=delivery.webhook,
        changes={"delivery": str(delivery.uuid), "new_delivery": str(again.uuid)},
        source_ip=source_ip,
    )
    return again


@transaction.atomic
def email_preference_set(*, user: User, enabled: bool, actor: User, source_ip: str | None = None) -> None:
    """Turns the user's mails about waiting steps on or off. Only the user themself may."""
    if actor.pk != user.pk:
        raise PermissionRefused("You can change only your own mail preference.")
    preference, _ = EmailPreference.objects.select_for_update().get_or_create(user=user)
    if preference.enabled == enabled:
        return
    preference.enabled = enabled
    preference.save(update_fields=["enabled"])
    audit_record(
        actor=actor,
        action="user.email_notifications",
        subject=user,
        changes={"enabled": [not enabled, enabled]},
        source_ip=source_ip,
    )


def webhook_secrets_rotate() -> int:
    """Re-encrypts every webhook's secret with the current RELMAN_ENCRYPTION_KEY (part of
    ``manage.py rotate_encryption_key``); returns how many it rewrote."""
    webhooks = list(Webhook.objects.select_for_update().only("pk", "encrypted_secret"))
    for webhook in webhooks:
        webhook.encrypted_secret = crypto.rotate(webhook.encrypted_secret)
    Webhook.objects.bulk_update(webhooks, ["encrypted_secret"], batch_size=500)
    return len(webhooks)
