"""How the API refers to targets in other objects' fields."""

from rest_framework import serializers


class TargetSlugField(serializers.SlugRelatedField):
    """A target referenced by its slug (read-only: runs name the target they ran on)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "slug")
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)
