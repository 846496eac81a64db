"""Checks shared by the services of several apps."""

from django.db import models

from relman.exceptions import Conflict, InvalidInput


def check_name_and_slug_free(
    model: type[models.Model], noun: str, name: str, slug: str, *, exclude_pk: int | None
) -> None:
    """Refuses an empty name or slug (400), or one another row of ``model`` already has (409; names
    compare case-insensitively). ``noun`` is what the message calls the thing: "an environment"."""
    if not name:
        raise InvalidInput(f"{noun.capitalize()} needs a name.", code="name_required")
    if not slug:
        raise InvalidInput(f"Cannot make a slug from {name!r}; give one.", code="slug_required")
    others = model.objects.exclude(pk=exclude_pk)
    if others.filter(name__iexact=name).exists():
        raise Conflict(f"{noun.capitalize()} named {name} already exists.", code="duplicate_name")
    if others.filter(slug=slug).exists():
        raise Conflict(
            f"{noun.capitalize()} with the slug {slug} already exists; give another slug.",
            code="duplicate_slug",
        )
