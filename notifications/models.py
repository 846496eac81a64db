"""The outbox: an ``Event`` is written in the transaction of the change it tells about; its
``Delivery`` rows (one per person, address or webhook) are sent by workers after commit,
and each try is an ``Attempt``."""

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from notifications.choices import Channel, DeliveryState, EventKind, WebhookFormat
from relman import crypto


class Event(models.Model):
    """Something that happened to a deployment, as plain data taken when it happened (the
    deployment is named by id: this app sits below the one that owns it)."""

    kind = models.CharField(max_length=32, choices=EventKind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    deployment_id = models.BigIntegerField(null=True, blank=True)
    project = models.ForeignKey(
        "processes.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    environment = models.ForeignKey(
        "lifecycles.Environment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    payload = models.JSONField(default=dict)
    # Set once the event's deliveries exist; the sweep fans out an event a lost message left unset.
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["created_at"], condition=models.Q(fanned_out_at__isnull=True), name="event_unsent"
            ),
            # The sweep's purge of events past their retention, oldest first.
            models.Index(fields=["created_at"], name="event_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of deployment {self.deployment_id}"


class Webhook(models.Model):
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=1000)
    # Encrypted (relman.crypto): the server needs it back to sign each body.
    encrypted_secret = models.TextField(editable=False)
    events = models.JSONField(default=list, blank=True, help_text="Events it receives (none: every event).")
    # Through link models that protect their target: deleting a project or an environment
    # a webhook is filtered to would silently widen it to every one.
    projects = models.ManyToManyField(
        "processes.Project",
        through="WebhookProject",
        blank=True,
        related_name="+",
        help_text="Only these projects (none: every project).",
    )
    environments = models.ManyToManyField(
        "lifecycles.Environment",
        through="WebhookEnvironment",
        blank=True,
        related_name="+",
        help_text="Only these environments (none: every environment).",
    )
    format = models.CharField(max_length=16, choices=WebhookFormat.choices, default=WebhookFormat.JSON)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("notifications:webhook_detail", args=[self.pk])

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.encrypted_secret)

    @secret.setter
    def secret(self, plain: str) -> None:
        self.encrypted_secret = crypto.encrypt(plain)


class WebhookProject(models.Model):
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey("processes.Project", on_delete=models.PROTECT, related_name="+")

    class Meta:
        unique_together = [("webhook", "project")]

    def __str__(self) -> str:
        return str(self.webhook)


class WebhookEnvironment(models.Model):
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey("lifecycles.Environment", on_delete=models.PROTECT, related_name="+")

    class Meta:
        unique_together = [("webhook", "environment")]

    def __str__(self) -> str:
        return str(self.webhook)


class Delivery(models.Model):
    """One message of an event to one recipient; the outbox row a worker sends."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    webhook = models.ForeignKey(
        Webhook, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    address = models.CharField(max_length=254, blank=True, help_text="The mail's recipient.")
    # X-Relman-Delivery: the same on every attempt of this delivery.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When a worker may next try (a retry's time, or the end of a running attempt's lease).
    due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            # The sweep's "which deliveries are due".
            models.Index(fields=["due_at"], condition=models.Q(state="pending"), name="delivery_due"),
            models.Index(fields=["webhook", "-created_at"], name="delivery_webhook_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event.kind} to {self.webhook or self.address}"


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response = models.TextField(blank=True, help_text="The start of the receiver's answer.")
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="attempt_number_unique")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"


class EmailPreference(models.Model):
    """A person's choice on /me/: mails about steps that wait for them, or none."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_preference"
    )
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"Mail preference of {self.user}"
