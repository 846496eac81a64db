from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lifecycles.api.fields import EnvironmentSlugField
from processes.api.fields import ProjectGroupIdField, ProjectSlugField
from relman.api import WholeListSerializer
from teams.api.fields import TeamIdField, UsernameField
from teams.choices import ROLE_IMPLIES, Role
from teams.models import AuditEvent, RoleGrant, Team, User
from teams.services import RoleSpec

# --- users ----------------------------------------------------------------------------------


class UserSerializer(serializers.ModelSerializer):
    """A user. Their email address and superuser flag are shown to superusers only (the
    request in the context says who asks): everyone signed in reads the list, and neither
    is theirs to harvest."""

    teams = TeamIdField(many=True, read_only=True)
    # Not read-only, so the schema leaves them out of "required": they are absent for most.
    email = serializers.EmailField(
        required=False, allow_blank=True, help_text="Shown to superusers only; empty when not set."
    )
    is_superuser = serializers.BooleanField(required=False, help_text="Shown to superusers only.")

    PRIVATE_FIELDS = ("email", "is_superuser")

    class Meta:
        model = User
        fields = ["username", "display_name", "email", "is_active", "is_superuser", "teams"]
        read_only_fields = ["username", "display_name", "is_active", "teams"]

    def to_representation(self, instance: User) -> dict:
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not request.user.is_superuser:
            for name in self.PRIVATE_FIELDS:
                data.pop(name)
        return data


class UserCreateSerializer(serializers.Serializer):
    username = serializers.CharField(
        max_length=150,
        # A username already taken is the service's 409, as every duplicate is.
        validators=[UnicodeUsernameValidator()],
    )
    display_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    # No default: the schema would declare "" as one, which is not an email address.
    email = serializers.EmailField(required=False, allow_blank=True)
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_null=True,
        default=None,
        style={"input_type": "password"},
        help_text="Optional: without one the user cannot sign in with a password (API keys still work).",
    )


# --- teams ----------------------------------------------------------------------------------


class RoleGrantSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
    project_groups = ProjectGroupIdField(many=True, required=False, default=list)
    projects = ProjectSlugField(many=True, required=False, default=list)
    environments = EnvironmentSlugField(many=True, required=False, default=list)

    class Meta:
        list_serializer_class = WholeListSerializer

    def to_internal_value(self, data) -> RoleSpec:
        return RoleSpec(**super().to_internal_value(data))


class TeamSerializer(serializers.ModelSerializer):
    members = UsernameField(many=True, required=False, help_text="Usernames; on write, replaces the members.")
    roles = RoleGrantSerializer(
        many=True,
        required=False,
        help_text="Role grants; empty scopes mean every project group, project or environment. "
        "On write, replaces every grant.",
    )

    class Meta:
        model = Team
        fields = ["id", "name", "description", "members", "roles"]
        read_only_fields = ["id"]
        # A name already taken is the service's 409 duplicate_name, as every duplicate is.
        extra_kwargs = {"name": {"validators": []}}


# --- the caller -----------------------------------------------------------------------------


class TeamRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name"]


class EffectiveRoleSerializer(serializers.ModelSerializer):
    team = TeamRefSerializer()
    includes = serializers.SerializerMethodField(help_text="The roles this grant gives, viewer included.")
    project_groups = ProjectGroupIdField(many=True, read_only=True)
    projects = ProjectSlugField(many=True, read_only=True)
    environments = EnvironmentSlugField(many=True, read_only=True)

    class Meta:
        model = RoleGrant
        fields = ["team", "role", "includes", "project_groups", "projects", "environments"]

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=Role.choices)))
    def get_includes(self, grant: RoleGrant) -> list[str]:
        return sorted(ROLE_IMPLIES[grant.role])


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    display_name = serializers.CharField()
    email = serializers.EmailField()
    is_superuser = serializers.BooleanField(help_text="Superusers may do everything that is a permission.")
    teams = TeamRefSerializer(many=True)
    roles = EffectiveRoleSerializer(many=True, help_text="Every role grant of every team you are in.")


# --- audit ----------------------------------------------------------------------------------


class AuditEventSerializer(serializers.ModelSerializer):
    actor = UsernameField(read_only=True, allow_null=True, help_text="Null when the system acted.")
    project = ProjectSlugField(read_only=True, allow_null=True)
    environment = EnvironmentSlugField(read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "timestamp",
            "actor",
            "actor_label",
            "action",
            "subject_type",
            "subject_id",
            "project",
            "project_label",
            "environment",
            "environment_label",
            "source_ip",
            "changes",
            "sequence",
            "previous_hash",
            "hash",
        ]
        read_only_fields = fields
