from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lifecycles.api.fields import EnvironmentSlugField
from processes.api.fields import ProjectSlugField
from processes.choices import StepKind
from releases.choices import Guidance, InterruptionResult
from releases.models import (
    Approval,
    Deployment,
    DeploymentStep,
    Freeze,
    Interruption,
    Release,
    StepRun,
    TaskLogEntry,
)
from releases.permissions import can_take_interruption
from releases.services import VERSION_MAX_LENGTH
from targets.api.fields import TargetSlugField
from teams.api.fields import TeamIdField, UsernameField

# --- releases -------------------------------------------------------------------------------


class ReleaseSerializer(serializers.ModelSerializer):
    project = ProjectSlugField(read_only=True)
    created_by = UsernameField(read_only=True, allow_null=True, help_text="Null when the system created it.")

    class Meta:
        model = Release
        fields = ["id", "project", "version", "notes", "created_by", "created_at"]
        read_only_fields = fields


@extend_schema_field(
    {"type": "string", "pattern": r"^\S+$", "maxLength": VERSION_MAX_LENGTH, "examples": ["1.4.0"]}
)
class VersionField(serializers.CharField):
    """A release version. The service checks it (and says what is wrong); the schema
    states the same rule for clients and generators."""


def notes_field() -> serializers.CharField:
    """Markdown notes within RELMAN_NOTES_MAX_LENGTH, a limit the schema states as maxLength."""
    limit = settings.RELMAN_NOTES_MAX_LENGTH
    return serializers.CharField(
        allow_blank=True,
        default="",
        trim_whitespace=False,
        max_length=limit,
        error_messages={"max_length": f"Notes are limited to {limit:,} characters."},
        help_text=f"Markdown, at most {limit:,} characters.",
    )


class ReleaseCreateSerializer(serializers.Serializer):
    version = VersionField(help_text="Unique in the project, no spaces, e.g. 1.4.0.")
    notes = notes_field()


class DeploymentRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Deployment
        fields = ["id", "state"]


class ProgressionSerializer(serializers.Serializer):
    environment = serializers.SlugField(source="environment.slug")
    phase = serializers.CharField(help_text="The name of the lifecycle phase the environment belongs to.")
    can_deploy = serializers.BooleanField(help_text="Whether you may deploy the release there now.")
    reason = serializers.CharField(help_text="Why not, when you may not; empty otherwise.")
    latest_deployment = DeploymentRefSerializer(allow_null=True)


class ReleaseDetailSerializer(ReleaseSerializer):
    progression = ProgressionSerializer(
        many=True, read_only=True, help_text="Every environment of the project's lifecycle, in order."
    )

    class Meta(ReleaseSerializer.Meta):
        fields = [*ReleaseSerializer.Meta.fields, "progression"]
        read_only_fields = fields


# --- deployments ----------------------------------------------------------------------------


class DeploymentSerializer(serializers.ModelSerializer):
    project = ProjectSlugField(read_only=True)
    environment = EnvironmentSlugField(read_only=True)
    created_by = UsernameField(
        read_only=True, allow_null=True, help_text="Null when the lifecycle deployed automatically."
    )

    class Meta:
        model = Deployment
        fields = [
            "id",
            "release",
            "project",
            "environment",
            "state",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "queue_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"queue_at": {"help_text": "When a scheduled deployment starts; null: at once."}}


class StepRunSerializer(serializers.ModelSerializer):
    target = TargetSlugField(allow_null=True, help_text="The target's slug; null: Relman's built-in runner.")

    class Meta:
        model = StepRun
        fields = ["target", "state", "exit_code", "started_at", "finished_at"]
        read_only_fields = fields


class DeploymentStepSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="release_step.name")
    kind = serializers.ChoiceField(choices=StepKind.choices, source="release_step.kind")
    interruption = serializers.SerializerMethodField(help_text="The step's latest interruption id, or null.")
    runs = StepRunSerializer(
        many=True, read_only=True, help_text="A script step's runs on targets, by target."
    )

    class Meta:
        model = DeploymentStep
        fields = ["position", "name", "kind", "state", "started_at", "finished_at", "interruption", "runs"]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_interruption(self, step: DeploymentStep) -> int | None:
        ids = [i.pk for i in step.interruptions.all()]
        return max(ids) if ids else None


class DeploymentDetailSerializer(DeploymentSerializer):
    steps = DeploymentStepSerializer(many=True, read_only=True)

    class Meta(DeploymentSerializer.Meta):
        fields = [*DeploymentSerializer.Meta.fields, "steps"]
        read_only_fields = fields


class DeploymentCreateSerializer(serializers.Serializer):
    environment = EnvironmentSlugField(help_text="Environment slug.")
    guided_failure = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Ask a person when a script fails; the project's default when omitted.",
    )
    queue_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="ISO 8601: start then (within a year), not at once; waits while a freeze applies.",
    )
    override_freeze = serializers.BooleanField(
        default=False, help_text="Superusers only: deploy through a freeze; needs a reason."
    )
    reason = serializers.CharField(allow_blank=True, default="", max_length=2000)


class LogEntrySerializer(serializers.ModelSerializer):
    step = serializers.IntegerField(
        source="step.position", allow_null=True, help_text="The step's position, or null for the deployment."
    )

    class Meta:
        model = TaskLogEntry
        fields = ["id", "timestamp", "level", "step", "message"]
        read_only_fields = fields


class LogSerializer(serializers.Serializer):
    entries = LogEntrySerializer(many=True, help_text="Oldest first.")


# --- interruptions --------------------------------------------------------------------------


class ApprovalSerializer(serializers.ModelSerializer):
    user = UsernameField(
        read_only=True, allow_null=True, help_text="Null when the system answered (timeout)."
    )

    class Meta:
        model = Approval
        fields = ["user", "result", "notes", "at"]
        read_only_fields = fields


class InterruptionSerializer(serializers.ModelSerializer):
    responsible_teams = TeamIdField(many=True, read_only=True)
    assignee = UsernameField(read_only=True, allow_null=True, help_text="Null while nobody holds it.")
    can_take = serializers.SerializerMethodField(
        help_text="Whether you may take it (or take it over) now; false for a quorum, which each approver submits."
    )
    # Declared, not generated: a generated read-only field forgets that it may be blank.
    result = serializers.ChoiceField(
        choices=InterruptionResult.choices,
        read_only=True,
        allow_blank=True,
        help_text="A manual intervention's answer; empty until submitted.",
    )
    guidance = serializers.ChoiceField(
        choices=Guidance.choices,
        read_only=True,
        allow_blank=True,
        help_text="A guided failure's answer; empty until submitted.",
    )
    submitted_by = UsernameField(
        read_only=True, allow_null=True, help_text="Null until submitted, and when the system answered."
    )
    approvals = ApprovalSerializer(
        many=True,
        read_only=True,
        help_text="A quorum's answers, and the system's on a timeout, oldest first; a single"
        " approver's answer is submitted_by, result and notes.",
    )
    has_helper_script = serializers.SerializerMethodField(
        help_text="Whether the step has a helper script its assignee may run (run-helper-script)."
    )
    helper_runs = StepRunSerializer(
        source="step.runs",
        many=True,
        read_only=True,
        help_text="The helper script's latest runs: one per target, or one on the built-in runner.",
    )
    helper_output = serializers.CharField(
        read_only=True,
        help_text="The output of the helper script's last run once it ended, offered as the notes.",
    )

    class Meta:
        model = Interruption
        fields = [
            "id",
            "type",
            "title",
            "instructions",
            "responsible_teams",
            "assignee",
            "can_take",
            "pending",
            "result",
            "guidance",
            "notes",
            "submitted_by",
            "submitted_at",
            "deployment",
            "required_approvals",
            "approvals",
            "due_at",
            "has_helper_script",
            "helper_runs",
            "helper_output",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "instructions": {"help_text": "Markdown, as written."},
            "required_approvals": {"help_text": "Distinct proceeds that complete a manual intervention."},
            "due_at": {"help_text": "When the system answers if no one has; null: no timeout."},
        }

    def get_has_helper_script(self, interruption: Interruption) -> bool:
        release_step = interruption.step.release_step
        return release_step.is_manual and bool(release_step.script.strip())

    def get_can_take(self, interruption: Interruption) -> bool:
        # A quorum is never taken: each approver submits (``approvals`` says who has).
        return (
            interruption.pending
            and not interruption.is_quorum
            and can_take_interruption(self.context["request"].user, interruption)
        )


class InterruptionTakeSerializer(serializers.Serializer):
    take_over = serializers.BooleanField(default=False, help_text="Take it from the person who holds it.")
    override = serializers.BooleanField(
        default=False, help_text="Superusers only: take it though not in a responsible team; needs a reason."
    )
    reason = serializers.CharField(allow_blank=True, default="", max_length=2000)


class InterruptionSubmitSerializer(serializers.Serializer):
    result = serializers.ChoiceField(
        choices=InterruptionResult.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="For a manual intervention.",
    )
    guidance = serializers.ChoiceField(
        choices=Guidance.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="For a guided failure.",
    )
    notes = notes_field()


# --- freezes --------------------------------------------------------------------------------


class FreezeSerializer(serializers.ModelSerializer):
    environments = EnvironmentSlugField(many=True, help_text="Environment slugs; at least one.")
    projects = ProjectSlugField(many=True, required=False, help_text="Project slugs; none: every project.")
    reason = serializers.CharField(allow_blank=True, required=False, max_length=2000)

    class Meta:
        model = Freeze
        fields = ["id", "name", "reason", "start", "end", "environments", "projects"]
        read_only_fields = ["id"]
        extra_kwargs = {
            "start": {"help_text": "ISO 8601; deployments are refused from this moment."},
            "end": {"help_text": "ISO 8601, after start; deployments may go again from this moment."},
        }
