"""Checks shared by the services of several apps."""

import re

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


# A role (of a target, or named by a script step) is a free tag: any short word.
ROLE_MAX_LENGTH = 50
ROLES_MAX = 20
_ROLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def roles_errors(roles) -> list[str]:
    """What is wrong with a list of role tags (empty: nothing)."""
    if not isinstance(roles, list | tuple):
        return ["Roles are a list of tags."]
    if len(roles) > ROLES_MAX:
        return [f"At most {ROLES_MAX} roles."]
    return [
        f"A role is a word of letters, digits, '.', '_' or '-' of up to {ROLE_MAX_LENGTH} characters,"
        f" not {role!r}."
        for role in roles
        if not isinstance(role, str) or len(role) > ROLE_MAX_LENGTH or not _ROLE.match(role)
    ]
