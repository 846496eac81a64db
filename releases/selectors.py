"""Non-trivial reads: what needs a person, the dashboard, a deployment's page."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from lifecycles.models import Environment
from processes.models import Project
from releases.models import Deployment, Interruption
from teams.choices import Role
from teams.models import User
from teams.permissions import scope_q


def interruption_list_actionable(user: User) -> QuerySet[Interruption]:
    """Pending interruptions the user holds, or may take and nobody holds yet, oldest
    first ("My tasks"). One query, whatever the number of teams and deployments."""
    teams = Interruption.responsible_teams.through.objects.filter(interruption_id=OuterRef("pk"))
    in_my_team = Exists(teams.filter(team__members=user))
    deployer = scope_q(
        user,
        role=Role.DEPLOYER,
        project_field="deployment__project",
        environment_field="deployment__environment",
    )
    without_team = ~Exists(teams) & (deployer if deployer is not None else Q())
    self_approval = Q(prevent_self_approval=True, deployment__created_by=user)
    return (
        Interruption.objects.visible_to(user)
        .filter(pending=True)
        .filter(Q(assignee=user) | (Q(assignee__isnull=True) & (in_my_team | without_team) & ~self_approval))
        .select_related(
            "deployment__release",
            "deployment__project",
            "deployment__environment",
            "step__release_step",
            "assignee",
        )
        .prefetch_related("responsible_teams")
        .order_by("created_at", "id")
    )


def attention_count(user: User) -> int:
    """How many interruptions wait for this user: the "tasks need your attention" badge."""
    return interruption_list_actionable(user).count()


@dataclass
class DashboardRow:
    project: Project
    cells: list[Deployment | None]


@dataclass
class DashboardGroup:
    name: str
    rows: list[DashboardRow]


def dashboard(
    user: User,
    *,
    group_ids: list[int] | None = None,
    project_ids: list[int] | None = None,
    environment_ids: list[int] | None = None,
) -> tuple[list[Environment], list[DashboardGroup]]:
    """Project groups → projects × environments, each cell the latest deployment the user
    may see there. A fixed number of queries whatever the size of the data."""
    projects = Project.objects.visible_to(user).select_related("group").order_by("group__name", "name")
    if group_ids:
        projects = projects.filter(group_id__in=group_ids)
    if project_ids:
        projects = projects.filter(pk__in=project_ids)
    environments = Environment.objects.all()
    if environment_ids:
        environments = environments.filter(pk__in=environment_ids)
    projects, environments = list(projects), list(environments)

    latest_per_slot = (
        Deployment.objects.filter(
            project_id=OuterRef("project_id"), environment_id=OuterRef("environment_id")
        )
        .visible_to(user)
        .order_by("-id")
        .values("pk")[:1]
    )
    latest = (
        Deployment.objects.visible_to(user)
        .filter(project__in=projects, environment__in=environments)
        .filter(pk=latest_per_slot)
        .select_related("release")
    )
    by_slot = {(d.project_id, d.environment_id): d for d in latest}
    groups: dict[int, DashboardGroup] = {}
    for project in projects:
        group = groups.setdefault(project.group_id, DashboardGroup(name=project.group.name, rows=[]))
        group.rows.append(
            DashboardRow(project=project, cells=[by_slot.get((project.pk, env.pk)) for env in environments])
        )
    return environments, list(groups.values())


def deployment_queue_position(deployment: Deployment) -> Deployment | None:
    """For a queued deployment: the deployment it waits behind, if any."""
    from releases.engine import slot_holder

    return slot_holder(deployment)
