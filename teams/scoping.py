"""Scoping plumbing: which rows a user's role grants cover.

A user's permissions come from the role grants of the teams they belong to. A grant covers
a project when it names the project or its group (or names neither: every project), and an
environment when it names it (or names none). Superusers are covered everywhere.

This module is the ground floor every app's models stand on (``ScopedQuerySet``): it knows
teams and their grants and no other app. The rules built from it, who may do what, are in
each app's ``permissions.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q

from teams.choices import ROLE_IMPLIES, Role
from teams.models import RoleGrant

if TYPE_CHECKING:
    from teams.models import User


@dataclass(frozen=True)
class Grant:
    role: str
    group_ids: frozenset[int]
    project_ids: frozenset[int]
    environment_ids: frozenset[int]

    def allows(self, role: str) -> bool:
        return role in ROLE_IMPLIES[self.role]

    def covers_project(self, project) -> bool:
        if not self.group_ids and not self.project_ids:
            return True
        return project.group_id in self.group_ids or project.pk in self.project_ids

    def covers_environment(self, environment_id: int) -> bool:
        return not self.environment_ids or environment_id in self.environment_ids

    def q(self, project_field: str, environment_field: str | None) -> Q:
        """The rows this grant covers, as a filter on a model whose project is reached
        through ``project_field`` ("" for Project itself) and environment through
        ``environment_field``. An empty Q covers every row."""
        q = Q()
        if self.group_ids or self.project_ids:
            prefix = f"{project_field}__" if project_field else ""
            q = Q(**{f"{prefix}group__in": self.group_ids}) | Q(
                **{f"{project_field}__in" if project_field else "pk__in": self.project_ids}
            )
        if environment_field and self.environment_ids:
            q &= Q(**{f"{environment_field}__in": self.environment_ids})
        return q


def grants_for(user: User) -> list[Grant]:
    """The user's grants, read once per user object (a request's ``request.user``)."""
    if not user.is_authenticated or not user.is_active:
        return []
    cached = getattr(user, "_relman_grants", None)
    if cached is not None:
        return cached
    grants = [
        Grant(
            role=rg.role,
            group_ids=frozenset(g.pk for g in rg.project_groups.all()),
            project_ids=frozenset(p.pk for p in rg.projects.all()),
            environment_ids=frozenset(e.pk for e in rg.environments.all()),
        )
        for rg in RoleGrant.objects.filter(team__members=user)
        .distinct()
        .prefetch_related("project_groups", "projects", "environments")
    ]
    user._relman_grants = grants
    return grants


def team_ids_of(user: User) -> set[int]:
    """The teams the user belongs to, read once per user object."""
    cached = getattr(user, "_relman_team_ids", None)
    if cached is None:
        cached = set(user.teams.values_list("pk", flat=True)) if user.is_authenticated else set()
        user._relman_team_ids = cached
    return cached


def has_role(user: User, role: str, project, environment=None) -> bool:
    """Whether the user holds ``role`` (or one implying it) on the project, and on the
    environment when one is given."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return any(
        g.allows(role)
        and g.covers_project(project)
        and (environment is None or g.covers_environment(environment.pk))
        for g in grants_for(user)
    )


def scope_q(
    user: User,
    *,
    role: str = Role.VIEWER,
    project_field: str = "project",
    environment_field: str | None = "environment",
) -> Q | None:
    """A filter for the rows the user may see (or act on with ``role``); None means all.

    ``project_field=""`` filters Project itself.
    """
    if user.is_authenticated and user.is_active and user.is_superuser:
        return None
    combined = Q(pk__in=[])
    for grant in grants_for(user):
        if not grant.allows(role):
            continue
        grant_q = grant.q(project_field, environment_field)
        if not grant_q:
            return None
        combined |= grant_q
    return combined


class ScopedQuerySet(models.QuerySet):
    """``visible_to(user)`` for models scoped by project (and environment)."""

    project_field = "project"
    environment_field: str | None = "environment"

    def visible_to(self, user: User, role: str = Role.VIEWER):
        q = scope_q(
            user, role=role, project_field=self.project_field, environment_field=self.environment_field
        )
        return self if q is None else self.filter(q)
