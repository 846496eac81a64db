from rest_framework import serializers

from lifecycles.api.fields import EnvironmentSlugField
from notifications.choices import DEPLOYMENT_EVENTS
from notifications.models import Attempt, Delivery, Webhook
from processes.api.fields import ProjectSlugField


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=DEPLOYMENT_EVENTS),
        required=False,
        help_text="The events it receives (empty: every event).",
    )
    projects = ProjectSlugField(many=True, required=False, help_text="Project slugs (empty: every project).")
    environments = EnvironmentSlugField(
        many=True, required=False, help_text="Environment slugs (empty: every environment)."
    )
    secret = serializers.CharField(
        write_only=True,
        required=False,
        min_length=16,
        max_length=200,
        help_text="Signs each body (X-Relman-Signature); made for you when omitted. Never shown again.",
    )

    class Meta:
        model = Webhook
        fields = [
            "id",
            "name",
            "url",
            "events",
            "projects",
            "environments",
            "format",
            "active",
            "created_at",
            "secret",
        ]
        read_only_fields = ["id", "created_at"]


class WebhookCreatedSerializer(WebhookSerializer):
    """The answer to a creation: the one time the secret is shown."""

    secret = serializers.CharField(read_only=True, help_text="Shown this once: keep it to verify signatures.")


class WebhookUpdateSerializer(WebhookSerializer):
    class Meta(WebhookSerializer.Meta):
        fields = [f for f in WebhookSerializer.Meta.fields if f != "secret"]


class AttemptSerializer(serializers.ModelSerializer):
    # Declared, not derived from the model: a positive integer column's range is the
    # database's (int32 on PostgreSQL, int64 on SQLite), and the schema must not vary with it.
    number = serializers.IntegerField(read_only=True, min_value=1)
    duration_ms = serializers.IntegerField(read_only=True, min_value=0)
    status_code = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Attempt
        fields = ["number", "started_at", "duration_ms", "status_code", "error", "response", "succeeded"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True, help_text="X-Relman-Delivery.")
    event = serializers.CharField(source="event.kind", read_only=True)
    deployment = serializers.IntegerField(source="event.deployment_id", read_only=True, allow_null=True)
    attempts = AttemptSerializer(source="attempt_rows", many=True, read_only=True)
    next_attempt_at = serializers.DateTimeField(source="due_at", read_only=True, allow_null=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event",
            "deployment",
            "state",
            "created_at",
            "finished_at",
            "next_attempt_at",
            "attempts",
        ]
