from datetime import timedelta

from django.db import models


class EventKind(models.TextChoices):
    INTERRUPTION_RAISED = "interruption.raised", "A step waits for a person"
    INTERRUPTION_REMINDER = "interruption.reminder", "A step still waits (reminder)"
    INTERRUPTION_ANSWERED = "interruption.answered", "A waiting step was answered"
    DEPLOYMENT_SUCCEEDED = "deployment.succeeded", "A deployment succeeded"
    DEPLOYMENT_FAILED = "deployment.failed", "A deployment failed"
    DEPLOYMENT_CANCELLED = "deployment.cancelled", "A deployment was cancelled"
    # Sent only by a webhook's "Send test", never by a deployment.
    WEBHOOK_TEST = "webhook.test", "Test"


DEPLOYMENT_EVENTS = [e for e in EventKind.values if e != EventKind.WEBHOOK_TEST]
# The events people are mailed about: a step that waits for them.
EMAILED_EVENTS = {EventKind.INTERRUPTION_RAISED, EventKind.INTERRUPTION_REMINDER}


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class WebhookFormat(models.TextChoices):
    JSON = "json", "JSON"
    SLACK = "slack", "Slack / Mattermost"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


# After a failed attempt, the next one waits this long; after the last, the delivery fails.
RETRY_DELAYS = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A receiver's answer is read up to this size; the rest is never downloaded.
MAX_RESPONSE_BYTES = 64 * 1024
# What an attempt keeps of the answer, for the deliveries page.
KEPT_RESPONSE_CHARS = 1000
