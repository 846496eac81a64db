from rest_framework import serializers

from lifecycles.api.fields import EnvironmentSlugField
from lifecycles.choices import PhaseRule
from lifecycles.models import Environment, Lifecycle
from lifecycles.services import PhaseEnvironmentSpec, PhaseSpec, lifecycle_phase_errors
from relman.api import WholeListSerializer


class EnvironmentSerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(
        max_length=100, required=False, help_text="Made from the name when omitted on creation."
    )
    # Declared with the range every database holds: the model field's own range is the
    # database's (64-bit on SQLite), which would make the schema differ between them.
    sort_order = serializers.IntegerField(
        min_value=-(2**31), max_value=2**31 - 1, required=False, help_text="Lower sorts first."
    )

    class Meta:
        model = Environment
        fields = ["id", "name", "slug", "description", "sort_order"]
        read_only_fields = ["id"]
        # A name already taken is the service's 409 duplicate_name, as every duplicate is.
        extra_kwargs = {"name": {"validators": []}}


class PhaseEnvironmentSerializer(serializers.Serializer):
    environment = EnvironmentSlugField()
    automatic = serializers.BooleanField(
        default=False, help_text="Deploy automatically when the previous phase completes."
    )


class PhaseSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    environments = PhaseEnvironmentSerializer(many=True)
    rule = serializers.ChoiceField(choices=PhaseRule.choices, default=PhaseRule.ALL)
    minimum = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        default=None,
        help_text="With the minimum rule: how many environments must succeed.",
    )

    class Meta:
        list_serializer_class = WholeListSerializer

    def to_representation(self, phase):
        return {
            "name": phase.name,
            "environments": [
                {"environment": pe.environment.slug, "automatic": pe.automatic}
                for pe in phase.phase_environments.all()
            ],
            "rule": phase.rule,
            "minimum": phase.minimum,
        }


class LifecycleSerializer(serializers.ModelSerializer):
    phases = PhaseSerializer(many=True, required=False, help_text="In order; on write, replaces every phase.")

    class Meta:
        model = Lifecycle
        fields = ["id", "name", "description", "phases"]
        read_only_fields = ["id"]
        # A name already taken is the service's 409 duplicate_name, as every duplicate is.
        extra_kwargs = {"name": {"validators": []}}

    def validate_phases(self, phases: list[dict]) -> list[PhaseSpec]:
        specs = [
            PhaseSpec(
                name=phase["name"],
                rule=phase["rule"],
                minimum=phase["minimum"],
                environments=[PhaseEnvironmentSpec(**pe) for pe in phase["environments"]],
            )
            for phase in phases
        ]
        errors = lifecycle_phase_errors(specs)
        if errors:
            raise serializers.ValidationError({str(index): fields for index, fields in errors.items()})
        return specs
