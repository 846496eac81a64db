"""An HTTP POST of the event as JSON (Relman's body, or a Slack/Mattermost incoming
webhook's ``{"text"}``), signed with the webhook's secret."""

from __future__ import annotations

import hashlib
import hmac
import json

import requests
from django.conf import settings

from notifications.channels.base import Result, Transport
from notifications.channels.webhook.addresses import url_refusal
from notifications.choices import KEPT_RESPONSE_CHARS, MAX_RESPONSE_BYTES, EventKind, WebhookFormat
from notifications.models import Delivery
from relman.crypto import UnreadableValue

INTERRUPTION_EVENTS = {
    EventKind.INTERRUPTION_RAISED,
    EventKind.INTERRUPTION_REMINDER,
    EventKind.INTERRUPTION_ANSWERED,
}


def body(delivery: Delivery) -> dict:
    """The JSON body of SPEC §13; the step and its responsible teams for interruption events."""
    event, payload = delivery.event, delivery.event.payload
    data = {
        "id": str(delivery.uuid),
        "event": event.kind,
        "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
        "project": payload.get("project"),
        "release": payload.get("release"),
        "environment": payload.get("environment"),
        "deployment": event.deployment_id,
        "url": payload.get("url"),
    }
    if event.kind in INTERRUPTION_EVENTS:
        data["step"] = payload["step"]
        data["responsible_teams"] = payload["responsible_teams"]
    return data


def slack_text(delivery: Delivery) -> str:
    event, payload = delivery.event, delivery.event.payload
    if event.kind == EventKind.WEBHOOK_TEST:
        return "Relman test message: this webhook works."
    what = f"{payload['project']} {payload['release']} to {payload['environment']}"
    lines = {
        EventKind.INTERRUPTION_RAISED: "*{step}* waits for {who}",
        EventKind.INTERRUPTION_REMINDER: "Reminder: *{step}* still waits for {who}",
        EventKind.INTERRUPTION_ANSWERED: "*{step}* was answered: {result} by {answered_by}",
        EventKind.DEPLOYMENT_SUCCEEDED: "Deployment succeeded",
        EventKind.DEPLOYMENT_FAILED: "Deployment failed",
        EventKind.DEPLOYMENT_CANCELLED: "Deployment cancelled",
    }
    who = ", ".join(payload.get("responsible_teams") or []) or "a deployer"
    line = lines[event.kind].format(
        who=who, **{k: payload.get(k, "") for k in ("step", "result", "answered_by")}
    )
    return f"{line} — {what}. <{payload['url']}|Open the deployment>"


def encode(delivery: Delivery) -> bytes:
    data = (
        {"text": slack_text(delivery)} if delivery.webhook.format == WebhookFormat.SLACK else body(delivery)
    )
    return json.dumps(data, separators=(",", ":")).encode()


def signature(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


class WebhookTransport(Transport):
    def send(self) -> Result:
        webhook = self.delivery.webhook
        refusal = url_refusal(webhook.url)
        if refusal:
            return Result(succeeded=False, error=f"Not sent: {refusal}")
        raw = encode(self.delivery)
        try:
            secret = webhook.secret
        except UnreadableValue as exc:
            return Result(succeeded=False, error=str(exc))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Relman-Webhooks/1",
            "X-Relman-Event": self.event.kind,
            "X-Relman-Delivery": str(self.delivery.uuid),
            "X-Relman-Signature": signature(secret, raw),
        }
        try:
            # Never follow a redirect: the URL was checked, where it sends us was not.
            with requests.post(
                webhook.url,
                data=raw,
                headers=headers,
                timeout=settings.RELMAN_NOTIFICATION_TIMEOUT_SECONDS,
                stream=True,
                allow_redirects=False,
            ) as response:
                answer = response.raw.read(MAX_RESPONSE_BYTES, decode_content=True)
        except (requests.RequestException, OSError) as exc:
            return Result(succeeded=False, error=f"{type(exc).__name__}: {exc}"[:1000])
        text = answer.decode("utf-8", "replace")[:KEPT_RESPONSE_CHARS]
        succeeded = 200 <= response.status_code < 300
        return Result(
            succeeded=succeeded,
            status_code=response.status_code,
            error="" if succeeded else f"The receiver answered {response.status_code}.",
            response=text,
        )
