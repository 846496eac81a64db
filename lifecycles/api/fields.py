"""How the API refers to environments and lifecycles in other objects' fields."""

from rest_framework import serializers

from lifecycles.models import Environment, Lifecycle


class EnvironmentSlugField(serializers.SlugRelatedField):
    """An environment referenced by its slug."""

    default_error_messages = {
        "does_not_exist": "Unknown environment {value}.",
        "invalid": "An environment is referenced by its slug.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "slug")
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", Environment.objects.all())
        super().__init__(**kwargs)


class LifecycleIdField(serializers.PrimaryKeyRelatedField):
    """A lifecycle referenced by id."""

    default_error_messages = {
        "does_not_exist": "Unknown lifecycle id {pk_value}.",
        "incorrect_type": "A lifecycle is referenced by its integer id, not {data_type}.",
    }

    def __init__(self, **kwargs):
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", Lifecycle.objects.all())
        super().__init__(**kwargs)
