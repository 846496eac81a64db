"""Who may do what. Every page, API endpoint, admin action and service asks these
predicates, so a rule is written once.

A user's permissions come from the role grants of the teams they belong to. A grant covers
a project when it names the project or its group (or names neither: every project), and an
environment when it names it (or names none). Superusers hold every permission but are not
members of teams they do not belong to (interventions, see ``take_refusal``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q

from relman.exceptions import PermissionRefused
from teams.choices import ROLE_IMPLIES, Role

if TYPE_CHECKING:
    from lifecycles.models import Environment
    from processes.models import Project
    from releases.models import Interruption
    from teams.models import User


@dataclass(frozen=True)
class Grant:
    role: str
    group_ids: frozenset[int]
    project_ids: frozenset[int]
    environment_ids: frozenset[int]

    def allows(self, role: str) -> bool:
        return role in ROLE_IMPLIES[self.role]

    def covers_project(self, project: Project) -> bool:
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
    from teams.models import RoleGrant

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


def has_role(user: User, role: str, project: Project, environment: Environment | None = None) -> bool:
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


def require_superuser(actor: User | None, what: str) -> None:
    """Refuses anyone but an active superuser (``actor=None`` is the system) to ``what``,
    e.g. "create environments"."""
    if actor is not None and not (actor.is_active and actor.is_superuser):
        raise PermissionRefused(f"Only superusers may {what}.")


def can_view_project(user: User, project: Project) -> bool:
    return has_role(user, Role.VIEWER, project)


def can_view_environment_of(user: User, project: Project, environment: Environment) -> bool:
    return has_role(user, Role.VIEWER, project, environment)


def can_create_release(user: User, project: Project) -> bool:
    return not project.disabled and has_role(user, Role.RELEASE_CREATOR, project)


def can_deploy(user: User, project: Project, environment: Environment) -> bool:
    return has_role(user, Role.DEPLOYER, project, environment)


def can_edit_process(user: User, project: Project) -> bool:
    return has_role(user, Role.PROJECT_EDITOR, project)


def is_member_of_any(user: User, team_ids: set[int]) -> bool:
    cached = getattr(user, "_relman_team_ids", None)
    if cached is None:
        cached = set(user.teams.values_list("pk", flat=True)) if user.is_authenticated else set()
        user._relman_team_ids = cached
    return bool(cached & team_ids)


def take_refusal(user: User, interruption: Interruption) -> str | None:
    """Why the user may not take (or submit) this interruption, or None if they may.

    Eligible: a member of one of its responsible teams who can see the project and
    environment; with no responsible team, a deployer in scope; never the deployment's
    creator when the step prevents self-approval.
    """
    deployment = interruption.deployment
    teams = list(interruption.responsible_teams.all())
    names = team_names(teams)
    if teams:
        if not is_member_of_any(user, {t.pk for t in teams}):
            return f"Only members of {names} may take this step."
        if not can_view_environment_of(user, deployment.project, deployment.environment):
            return (
                f"You are in {names} but have no role that lets you see "
                f"{deployment.project} in {deployment.environment}."
            )
    elif not can_deploy(user, deployment.project, deployment.environment):
        return (
            f"This step has no responsible team, so only deployers of {deployment.project} "
            f"to {deployment.environment} may take it."
        )
    if interruption.prevent_self_approval and deployment.created_by_id == user.pk:
        others = f"another member of {names}" if teams else "another deployer"
        return f"You created this deployment and this step prevents self-approval: {others} must take it."
    return None


def can_take_interruption(user: User, interruption: Interruption) -> bool:
    return take_refusal(user, interruption) is None


def team_names(teams) -> str:
    """'DBA Team', or 'DBA Team, Ops Team or Test Team'."""
    names = [t.name for t in teams]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]


class ScopedQuerySet(models.QuerySet):
    """``visible_to(user)`` for models scoped by project (and environment)."""

    project_field = "project"
    environment_field: str | None = "environment"

    def visible_to(self, user: User, role: str = Role.VIEWER):
        q = scope_q(
            user, role=role, project_field=self.project_field, environment_field=self.environment_field
        )
        return self if q is None else self.filter(q)
