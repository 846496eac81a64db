"""How the API refers to library variable sets in other objects' fields."""

from rest_framework import serializers

from variables.models import LibraryVariableSet


class LibrarySetIdField(serializers.PrimaryKeyRelatedField):
    """A library variable set referenced by id."""

    default_error_messages = {
        "does_not_exist": "Unknown library variable set id {pk_value}.",
        "incorrect_type": "A library variable set is referenced by its integer id, not {data_type}.",
    }

    def __init__(self, **kwargs):
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", LibraryVariableSet.objects.all())
        super().__init__(**kwargs)
