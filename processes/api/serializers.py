from django.conf import settings
from rest_framework import serializers

from lifecycles.api.fields import EnvironmentSlugField, LifecycleIdField
from processes.api.fields import ProjectGroupIdField
from processes.choices import (
    DEFAULT_SCRIPT_TIMEOUT_SECONDS,
    MAX_TIMEOUT_MINUTES,
    OnTimeout,
    RunCondition,
    StepKind,
)
from processes.library import TEMPLATE_FIELDS, TemplateRefused, step_render
from processes.models import Project, StepTemplate
from processes.services import MAX_REMIND_MINUTES, MAX_TIMEOUT_SECONDS, StepSpec, process_step_errors
from teams.api.fields import TeamIdField


class ProjectSerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(
        max_length=100, required=False, help_text="Made from the name when omitted on creation."
    )
    group = ProjectGroupIdField(
        required=False, help_text="Project group id; the Default Project Group when omitted."
    )
    lifecycle = LifecycleIdField()

    class Meta:
        model = Project
        fields = ["name", "slug", "group", "lifecycle", "description", "disabled", "guided_failure"]
        # A name already taken is the service's 409 duplicate_name, as every duplicate is.
        extra_kwargs = {"name": {"validators": []}}


class StepTemplateIdField(serializers.PrimaryKeyRelatedField):
    """A step template referenced by id."""

    default_error_messages = {
        "does_not_exist": "Unknown step template id {pk_value}.",
        "incorrect_type": "A step template is referenced by its integer id, not {data_type}.",
    }

    def __init__(self, **kwargs):
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", StepTemplate.objects.all())
        super().__init__(**kwargs)


class StepDocumentSerializer(serializers.Serializer):
    """One step of a process document. Fields that do not apply to a step's kind may be
    omitted."""

    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=StepKind.choices, default=StepKind.MANUAL)
    enabled = serializers.BooleanField(default=True)
    environments = EnvironmentSlugField(
        many=True, default=list, help_text="Run only in these environments (none: every environment)."
    )
    excluded_environments = EnvironmentSlugField(many=True, default=list, help_text="Never run in these.")
    run_condition = serializers.ChoiceField(choices=RunCondition.choices, default=RunCondition.SUCCESS)
    instructions = serializers.CharField(
        allow_blank=True,
        default="",
        trim_whitespace=False,
        max_length=settings.RELMAN_INSTRUCTIONS_MAX_LENGTH,
        help_text="Markdown, for manual steps.",
    )
    responsible_teams = TeamIdField(many=True, default=list, help_text="Team ids.")
    block_deployments = serializers.BooleanField(
        default=False, help_text="Prevent other deployments to the environment while awaiting intervention."
    )
    prevent_self_approval = serializers.BooleanField(
        default=False, help_text="The user who created the deployment may not take this step."
    )
    script = serializers.CharField(
        allow_blank=True,
        default="",
        trim_whitespace=False,
        max_length=settings.RELMAN_SCRIPT_MAX_LENGTH,
        help_text="Bash: what a script step runs, or a manual step's helper script.",
    )
    timeout_seconds = serializers.IntegerField(
        min_value=1, max_value=MAX_TIMEOUT_SECONDS, default=DEFAULT_SCRIPT_TIMEOUT_SECONDS
    )
    remind_after_minutes = serializers.IntegerField(
        min_value=1,
        max_value=MAX_REMIND_MINUTES,
        allow_null=True,
        default=None,
        help_text="Remind the people who may take a manual step when it has waited this long.",
    )
    notify = serializers.ListField(
        child=serializers.EmailField(),
        default=list,
        max_length=50,
        help_text="More addresses mailed when a manual step waits.",
    )
    target_roles = serializers.ListField(
        child=serializers.CharField(),
        default=list,
        help_text="For script steps: run on every enabled target of the environment with one of these "
        "roles (none: on Relman's built-in runner).",
    )
    required_approvals = serializers.IntegerField(
        default=1,
        help_text="Manual steps: distinct people who must proceed; at most the responsible teams' members.",
    )
    timeout_minutes = serializers.IntegerField(
        min_value=1,
        max_value=MAX_TIMEOUT_MINUTES,
        allow_null=True,
        default=None,
        help_text="Manual steps: the system answers after this long (null: wait for people).",
    )
    on_timeout = serializers.ChoiceField(
        choices=OnTimeout.choices,
        default=OnTimeout.ABORT,
        help_text="The system's answer on timeout; proceed only with one required approval.",
    )
    automation_level = serializers.IntegerField(
        read_only=True,
        help_text="Derived: 1 a manual step, 2 a manual step with a helper script, 3 a script step.",
    )
    template = StepTemplateIdField(
        allow_null=True,
        default=None,
        help_text="Made from this step template (id): it gives kind, instructions, script and timeout, "
        "rendered with the parameters. Given with the template, those fields must be what it makes.",
    )
    template_version = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The template's version the step was made from."
    )
    parameters = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        allow_null=True,
        default=None,
        help_text="The template's parameter values by name (omitted ones take their defaults); "
        "a sensitive one refers to a variable, like #{DbPassword}.",
    )

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if data["template"] is None:
            data["parameters"] = None
        return data

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        # Which of the fields a template gives were written in the document, not defaulted.
        values["given"] = tuple(name for name in TEMPLATE_FIELDS if isinstance(data, dict) and name in data)
        return values


class ProcessSerializer(serializers.Serializer):
    """A project's process as one document: ``{"steps": [...]}`` in order. Errors point at
    the step's index (from 0) and field, e.g.
    ``{"steps": {"2": {"responsible_teams": ["Unknown team id 99."]}}}``."""

    steps = StepDocumentSerializer(many=True, allow_empty=True)

    def validate_steps(self, steps: list[dict]) -> list[StepSpec]:
        specs = []
        errors: dict[int, dict[str, list[str]]] = {}
        for index, step in enumerate(steps):
            given = step.pop("given", ())
            spec = StepSpec(**step)
            try:
                spec = step_render(spec, given=given, project=self.context.get("project"))
            except TemplateRefused as refusal:
                errors[index] = {refusal.field: [refusal.message]}
            specs.append(spec)
        if errors:
            raise serializers.ValidationError({str(index): fields for index, fields in errors.items()})
        errors = process_step_errors(specs)
        if errors:
            raise serializers.ValidationError({str(index): fields for index, fields in errors.items()})
        return specs


class ChecklistImportSerializer(serializers.Serializer):
    markdown = serializers.CharField(
        trim_whitespace=False,
        max_length=settings.RELMAN_INSTRUCTIONS_MAX_LENGTH,
        help_text="A Markdown table with a title and a who column, or a numbered or bulleted list.",
    )
    dry_run = serializers.BooleanField(default=False, help_text="Only show what the import would make.")
    create_missing_teams = serializers.BooleanField(
        default=False, help_text="Create the teams no name matched (superuser)."
    )


class ChecklistResultSerializer(serializers.Serializer):
    steps = StepDocumentSerializer(many=True, help_text="The process document the checklist makes.")
    unmatched = serializers.ListField(
        child=serializers.CharField(), help_text="Team names that matched no team (their steps have none)."
    )


class AutomateStepSerializer(serializers.Serializer):
    keep_check = serializers.BooleanField(
        default=False,
        help_text='Follow the script step with a manual "Check: <name>" step for the same teams.',
    )


class TemplateParameterSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The placeholder's name: #{Name} in the template's fields.")
    label = serializers.CharField(required=False, allow_blank=True, default="", help_text="Asked as.")
    help = serializers.CharField(required=False, allow_blank=True, default="")
    default = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        trim_whitespace=False,
        help_text="Taken when a step gives no value (null: a step must give one).",
    )
    sensitive = serializers.BooleanField(
        required=False,
        default=False,
        help_text="A step's value must refer to a variable (#{DbPassword}), never be the secret.",
    )


class StepTemplateSerializer(serializers.ModelSerializer):
    parameters = TemplateParameterSerializer(many=True, required=False, default=list)
    instructions = serializers.CharField(
        allow_blank=True,
        default="",
        trim_whitespace=False,
        max_length=settings.RELMAN_INSTRUCTIONS_MAX_LENGTH,
        help_text="Markdown for a manual step, with #{Parameter} placeholders.",
    )
    script = serializers.CharField(
        allow_blank=True,
        default="",
        trim_whitespace=False,
        max_length=settings.RELMAN_SCRIPT_MAX_LENGTH,
        help_text="Bash with #{Parameter} placeholders written bare: each value is quoted as one shell word.",
    )
    timeout_seconds = serializers.IntegerField(
        min_value=1, max_value=MAX_TIMEOUT_SECONDS, default=DEFAULT_SCRIPT_TIMEOUT_SECONDS
    )

    class Meta:
        model = StepTemplate
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "instructions",
            "script",
            "timeout_seconds",
            "parameters",
            "version",
            "shipped",
        ]
        read_only_fields = ["version", "shipped"]
        # A name already taken is the service's 409 duplicate_name, as every duplicate is.
        extra_kwargs = {"name": {"validators": []}}
