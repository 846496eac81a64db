from rest_framework import serializers

from lifecycles.api.fields import EnvironmentSlugField
from variables.api.fields import LibrarySetIdField
from variables.models import Variable
from variables.services import VariableSpec


class VariableSerializer(serializers.Serializer):
    """One value with its scope. A sensitive value reads back as ``null`` with
    ``has_value: true``; sending ``null`` for it keeps the stored value."""

    name = serializers.CharField(allow_blank=True, trim_whitespace=False)
    value = serializers.CharField(
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        default=None,
        help_text="At most 64 KiB. Null for a sensitive value: never returned; null on a PUT keeps the stored one.",
    )
    sensitive = serializers.BooleanField(default=False)
    has_value = serializers.BooleanField(read_only=True)
    environments = EnvironmentSlugField(many=True, default=list, help_text="Environment slugs.")
    roles = serializers.ListField(child=serializers.CharField(), default=list)
    targets = serializers.ListField(child=serializers.CharField(), default=list, help_text="Target slugs.")

    def to_representation(self, variable: Variable) -> dict:
        return {
            "name": variable.name,
            "value": None if variable.sensitive else variable.value,
            "sensitive": variable.sensitive,
            "has_value": bool(variable.ciphertext) if variable.sensitive else True,
            "environments": sorted(e.slug for e in variable.environments.all()),
            "roles": list(variable.roles),
            "targets": list(variable.targets),
        }


def specs(validated: list[dict]) -> list[VariableSpec]:
    return [
        VariableSpec(
            name=item["name"],
            value=item["value"],
            sensitive=item["sensitive"],
            environments=item["environments"],
            roles=item["roles"],
            targets=item["targets"],
        )
        for item in validated
    ]


class ProjectVariablesSerializer(serializers.Serializer):
    variables = VariableSerializer(many=True)
    library_sets = LibrarySetIdField(
        many=True, default=list, help_text="Included sets, in order of precedence."
    )


class LibrarySetSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(allow_blank=True)
    description = serializers.CharField(allow_blank=True, default="")
    variables = VariableSerializer(many=True, default=list)
