"""How the API refers to projects and project groups in other objects' fields."""

from rest_framework import serializers

from processes.models import Project, ProjectGroup


class ProjectSlugField(serializers.SlugRelatedField):
    """A project referenced by slug."""

    default_error_messages = {
        "does_not_exist": "Unknown project {value}.",
        "invalid": "A project is referenced by its slug.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "slug")
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", Project.objects.all())
        super().__init__(**kwargs)


class ProjectGroupIdField(serializers.PrimaryKeyRelatedField):
    """A project group referenced by id."""

    default_error_messages = {
        "does_not_exist": "Unknown project group id {pk_value}.",
        "incorrect_type": "A project group is referenced by its integer id, not {data_type}.",
    }

    def __init__(self, **kwargs):
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", ProjectGroup.objects.all())
        super().__init__(**kwargs)
