from rest_framework import serializers

from lifecycles.api.fields import EnvironmentSlugField
from relman.validation import roles_errors
from targets.choices import TargetStatus
from targets.models import Target


class TargetSerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(
        max_length=100, required=False, help_text="Made from the name when omitted on creation."
    )
    environments = EnvironmentSlugField(many=True, help_text="Environment slugs (at least one).")
    roles = serializers.ListField(
        child=serializers.CharField(), default=list, help_text="Role tags, e.g. db, web."
    )
    status = serializers.ChoiceField(
        choices=TargetStatus.choices,
        read_only=True,
        help_text="online when the agent was seen within RELMAN_AGENT_OFFLINE_AFTER_SECONDS.",
    )

    class Meta:
        model = Target
        fields = [
            "id", "name", "slug", "description", "environments", "roles", "enabled",
            "status", "last_seen", "agent_version", "hostname",
        ]  # fmt: skip
        read_only_fields = ["id", "last_seen", "agent_version", "hostname"]

    def validate_roles(self, roles: list[str]) -> list[str]:
        errors = roles_errors(roles)
        if errors:
            raise serializers.ValidationError(errors)
        return roles


class TargetCreatedSerializer(TargetSerializer):
    agent_token = serializers.CharField(
        read_only=True, help_text="Shown this once; give it to the target's relman-agent."
    )

    class Meta(TargetSerializer.Meta):
        fields = [*TargetSerializer.Meta.fields, "agent_token"]


class AgentTokenSerializer(serializers.Serializer):
    agent_token = serializers.CharField(
        read_only=True, help_text="Shown this once; the old token no longer works."
    )
