"""How the API refers to users and teams in other objects' fields."""

from rest_framework import serializers

from teams.models import Team, User


class UsernameField(serializers.SlugRelatedField):
    """A user referenced by username."""

    default_error_messages = {
        "does_not_exist": "Unknown user {value}.",
        "invalid": "A user is referenced by username.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "username")
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", User.objects.all())
        super().__init__(**kwargs)


class TeamIdField(serializers.PrimaryKeyRelatedField):
    """A team referenced by id."""

    default_error_messages = {
        "does_not_exist": "Unknown team id {pk_value}.",
        "incorrect_type": "A team is referenced by its integer id, not {data_type}.",
    }

    def __init__(self, **kwargs):
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", Team.objects.all())
        super().__init__(**kwargs)
