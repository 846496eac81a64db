"""Non-trivial reads: what needs a person, the dashboard, a deployment's page."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from django.db.models import Count, Exists, Max, OuterRef, Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from lifecycles.models import Environment, PhaseEnvironment
from lifecycles.progression import PhaseProgress, evaluate, lifecycle_phases
from processes.models import Project
from releases.choices import DeploymentState, RunState
from releases.models import Approval, Deployment, Freeze, Interruption, Release
from releases.permissions import deploy_refusal, freezes_applying
from teams.choices import Role
from teams.models import User
from teams.scoping import grants_for, scope_q, team_ids_of


def interruption_list_actionable(user: User) -> QuerySet[Interruption]:
    """Pending interruptions the user holds, or may take and nobody holds yet (a quorum:
    that they have not answered yet), oldest first ("My tasks"). One query, whatever the
    number of teams and deployments."""
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
    answered = Exists(Approval.objects.filter(interruption_id=OuterRef("pk"), user=user))
    return (
        Interruption.objects.visible_to(user)
        .filter(pending=True)
        .filter(
            Q(assignee=user)
            | (Q(assignee__isnull=True) & (in_my_team | without_team) & ~self_approval & ~answered)
        )
        .select_related(
            "deployment__release",
            "deployment__project",
            "deployment__environment",
            "step__release_step",
            "assignee",
        )
        .prefetch_related("responsible_teams", Prefetch("approvals", Approval.objects.select_related("user")))
        .order_by("created_at", "id")
    )


def attention_count(user: User) -> int:
    """How many interruptions wait for this user: the "tasks need your attention" badge."""
    return interruption_list_actionable(user).count()


class DashboardDeployment(NamedTuple):
    """What a dashboard cell shows of its latest deployment: rows, not model instances,
    as there may be thousands."""

    pk: int
    project_id: int
    environment_id: int
    state: str
    created_at: datetime
    queue_at: datetime | None
    version: str

    def get_absolute_url(self) -> str:
        return reverse("releases:deployment_detail", args=[self.pk])


@dataclass
class DashboardRow:
    project: Project
    cells: list[DashboardDeployment | None]


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
    projects, environments = _dashboard_scope(
        user, group_ids=group_ids, project_ids=project_ids, environment_ids=environment_ids
    )
    projects = list(projects.select_related("group").order_by("group__name", "name"))
    environments = list(environments)

    latest = latest_deployments(user, projects, environments)
    by_slot = {(d.project_id, d.environment_id): d for d in map(DashboardDeployment._make, latest)}
    groups: dict[int, DashboardGroup] = {}
    for project in projects:
        group = groups.setdefault(project.group_id, DashboardGroup(name=project.group.name, rows=[]))
        group.rows.append(
            DashboardRow(project=project, cells=[by_slot.get((project.pk, env.pk)) for env in environments])
        )
    return environments, list(groups.values())


def _dashboard_scope(
    user: User,
    *,
    group_ids: list[int] | None,
    project_ids: list[int] | None,
    environment_ids: list[int] | None,
) -> tuple[QuerySet[Project], QuerySet[Environment]]:
    """The projects (those the user may see) and environments the dashboard's filters keep."""
    projects = Project.objects.visible_to(user)
    if group_ids:
        projects = projects.filter(group_id__in=group_ids)
    if project_ids:
        projects = projects.filter(pk__in=project_ids)
    environments = Environment.objects.all()
    if environment_ids:
        environments = environments.filter(pk__in=environment_ids)
    return projects, environments


def latest_deployments(user: User, projects: list[Project], environments: list[Environment]) -> QuerySet:
    """The latest deployment of each (project, environment) cell the user may see, as
    DashboardDeployment fields: one query.

    The newest id per cell comes from one pass over the (project, environment, -id)
    index, grouped; a subquery per deployment ("is this the newest of its cell?") would
    probe that index once per deployment, ten times slower at 100,000 deployments (see
    bench/dashboard.py). Whether a user may see a deployment depends on its project and
    environment alone, so the newest one of a visible cell is the newest visible one.
    """
    newest = (
        Deployment.objects.visible_to(user)
        .filter(project__in=projects, environment__in=environments)
        .order_by()
        .values("project_id", "environment_id")
        .annotate(newest_id=Max("id"))
        .values("newest_id")
    )
    return (
        Deployment.objects.filter(pk__in=newest)
        .order_by()
        .values_list(*DashboardDeployment._fields[:-1], "release__version")
    )


def deployment_queue_position(deployment: Deployment) -> Deployment | None:
    """For a queued deployment: the deployment holding its slot, which it waits behind."""
    return Deployment.objects.in_slot_of(deployment).holding_slot().select_related("release").first()


def lifecycle_environment_ids(lifecycle_ids: set[int]) -> dict[int, set[int]]:
    """The environments each lifecycle reaches in any phase, in one query: the dashboard
    greys out the cells a project's lifecycle never goes to."""
    reached: dict[int, set[int]] = {pk: set() for pk in lifecycle_ids}
    rows = PhaseEnvironment.objects.filter(phase__lifecycle_id__in=lifecycle_ids).values_list(
        "phase__lifecycle_id", "environment_id"
    )
    for lifecycle_id, environment_id in rows:
        reached[lifecycle_id].add(environment_id)
    return reached


@dataclass
class ReleaseRow:
    release: Release
    cells: list[Deployment | None]


def project_release_grid(
    user: User, project: Project, *, limit: int = 25
) -> tuple[list[Environment], list[ReleaseRow]]:
    """The project's latest releases × the environments of its lifecycle, in phase order;
    each cell the release's latest deployment there that the user may see. Four queries."""
    environments: list[Environment] = []
    for phase in lifecycle_phases(project.lifecycle_id):
        for pe in phase.phase_environments.all():
            if pe.environment not in environments:
                environments.append(pe.environment)
    releases = list(Release.objects.filter(project=project).order_by("-sort_key", "-id")[:limit])
    latest = {
        (d.release_id, d.environment_id): d
        for d in Deployment.objects.visible_to(user)
        .filter(release__in=releases)
        .select_related("release")
        .order_by("id")
    }
    rows = [
        ReleaseRow(release=release, cells=[latest.get((release.pk, env.pk)) for env in environments])
        for release in releases
    ]
    return environments, rows


def release_deployments(user: User, release: Release) -> list[Deployment]:
    """Every deployment of the release the user may see, newest first."""
    return list(
        Deployment.objects.visible_to(user)
        .filter(release=release)
        .select_related("environment", "created_by")
        .order_by("-id")
    )


@dataclass
class EnvironmentProgression:
    """One environment of a release's lifecycle, as the caller sees it."""

    environment: Environment
    phase: str
    can_deploy: bool
    reason: str
    latest_deployment: Deployment | None


def release_progress(release: Release) -> list[PhaseProgress]:
    """The lifecycle progression of a release: every phase and environment, with whether
    it may be deployed there now and why not. The lifecycle is read live from the project."""
    states = Deployment.objects.filter(release=release).values_list("environment_id", "state")
    succeeded = {env for env, state in states if state == DeploymentState.SUCCESS}
    reached = {env for env, _ in states}
    return evaluate(
        phases=lifecycle_phases(release.project.lifecycle_id),
        succeeded_ids=succeeded,
        reached_ids=reached,
        subject=release.subject,
    )


def release_progression(release: Release, user: User) -> list[EnvironmentProgression]:
    """Every environment of the release's lifecycle, in order: whether the user may deploy
    the release there now (``releases.permissions.deploy_refusal``) and if not why, and the
    latest deployment of the release there that they may see."""
    latest: dict[int, Deployment] = {}
    for deployment in (
        Deployment.objects.visible_to(user).filter(release=release).only("pk", "state", "environment_id")
    ):
        latest.setdefault(deployment.environment_id, deployment)
    progress = release_progress(release)
    rows = []
    for phase in progress:
        for env in phase.environments:
            refusal = deploy_refusal(user, release, env.environment, progress)
            rows.append(
                EnvironmentProgression(
                    environment=env.environment,
                    phase=phase.phase.name,
                    can_deploy=refusal is None,
                    reason=str(refusal or ""),
                    latest_deployment=latest.get(env.environment.pk),
                )
            )
    return rows


# Versions of the live parts. A page's live region polls every two seconds with the
# version of what it shows; a poll whose version is unchanged is answered "no content"
# without reading or rendering the fragment. A version is a digest of the few columns
# that decide what the fragment shows, read by cheap queries; it may change when the
# fragment would not (a re-render, nothing worse), and must change whenever it would.
# Whoever embeds a version reads it before the content it renders, so that a change in
# between makes the next poll re-render rather than hide it.


def _digest(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()


def _viewer(user: User, *, teams: bool) -> tuple:
    """What decides, besides the data, what a user sees and which buttons they get: their
    grants (visibility, deploy and take rights) and, where a take button shows, their
    teams. Both are read once per request, by the fragment's queries too."""
    team_ids = sorted(team_ids_of(user)) if teams else None
    if user.is_superuser:
        return (user.pk, True, team_ids)
    grants = sorted(
        (g.role, sorted(g.group_ids), sorted(g.project_ids), sorted(g.environment_ids))
        for g in grants_for(user)
    )
    return (user.pk, False, grants, team_ids)


def dashboard_activity(
    user: User,
    *,
    group_ids: list[int] | None = None,
    project_ids: list[int] | None = None,
    environment_ids: list[int] | None = None,
) -> tuple:
    """What changes on the dashboard while its projects and environments stay the same:
    the count, newest id and latest change of the deployments the user may see in the
    grid's cells (a new deployment, a state change), and the attention badge every live
    fragment carries. Two queries; the first is one aggregate over the cells'
    deployments, not the latest deployment per cell that the grid reads."""
    deployments = Deployment.objects.visible_to(user)
    # The same filters as dashboard()'s, on the deployments' project and environment.
    if group_ids:
        deployments = deployments.filter(project__group_id__in=group_ids)
    if project_ids:
        deployments = deployments.filter(project_id__in=project_ids)
    if environment_ids:
        deployments = deployments.filter(environment_id__in=environment_ids)
    figures = deployments.order_by().aggregate(count=Count("id"), newest=Max("id"), changed=Max("updated_at"))
    return (figures["count"], figures["newest"], figures["changed"], attention_count(user))


# What the grid shows of a project and an environment; a project's lifecycle last.
PROJECT_COLUMNS = ("pk", "name", "slug", "disabled", "group_id", "group__name", "lifecycle_id")
ENVIRONMENT_COLUMNS = ("pk", "name", "sort_order")


def dashboard_version(
    user: User,
    *,
    activity: tuple,
    projects: list[Project] | list[tuple],
    environments: list[Environment] | list[tuple],
    reached: dict[int, set[int]],
    frozen: Frozen,
) -> str:
    """The version of a grid showing ``projects`` × ``environments`` (the objects, or rows
    of PROJECT_COLUMNS and ENVIRONMENT_COLUMNS): their names, groups and lifecycles, the
    environments those lifecycles reach (greyed-out cells), the deployments' ``activity``
    and the user's grants. Reads nothing."""
    return _digest(
        _viewer(user, teams=False),
        activity,
        sorted(
            p
            if isinstance(p, tuple)
            else (p.pk, p.name, p.slug, p.disabled, p.group_id, p.group.name, p.lifecycle_id)
            for p in projects
        ),
        sorted(e if isinstance(e, tuple) else (e.pk, e.name, e.sort_order) for e in environments),
        sorted((pk, sorted(ids)) for pk, ids in reached.items()),
        sorted((pk, sorted(by.items(), key=str)) for pk, by in frozen.items()),
    )


def freezes_holding(deployment: Deployment) -> list[Freeze]:
    """The freezes a scheduled deployment waits for once due (none if a superuser
    deployed it through freezes)."""
    if deployment.freeze_override_reason:
        return []
    moment = max(deployment.queue_at, timezone.now())
    return freezes_applying(deployment.project_id, deployment.environment_id, moment)


@dataclass
class FreezeRow:
    freeze: Freeze
    # The projects it names that the user may see (none named: every project).
    projects: list[Project]
    applies_now: bool


def freeze_list(user: User) -> list[FreezeRow]:
    """Freezes not over yet, soonest first: those of every project, and those naming a
    project the user may see (naming only those). Three queries."""
    now = timezone.now()
    visible = set(Project.objects.visible_to(user).values_list("pk", flat=True))
    rows = []
    for freeze in (
        Freeze.objects.filter(end__gt=now)
        .prefetch_related("environments", "projects")
        .order_by("start", "id")
    ):
        named = list(freeze.projects.all())
        shown = [p for p in named if p.pk in visible]
        if named and not shown:
            continue
        rows.append(FreezeRow(freeze=freeze, projects=shown, applies_now=freeze.start <= now))
    return rows


# environment id → {project id, or None for every project: "Holidays until … UTC"}
Frozen = dict[int, dict[int | None, str]]


def frozen_now() -> Frozen:
    """What the freezes applying now freeze, for the dashboard's marks. One query."""
    frozen: Frozen = {}
    rows = (
        Freeze.objects.filter(start__lte=timezone.now(), end__gt=timezone.now())
        .order_by("end")
        .values_list("name", "end", "environments", "projects")
    )
    for name, end, environment_id, project_id in rows:
        frozen.setdefault(environment_id, {})[project_id] = (
            f"Frozen by {name} until {end.astimezone(UTC).strftime('%Y-%m-%d %H:%M')} UTC"
        )
    return frozen


def dashboard_current_version(
    user: User,
    *,
    group_ids: list[int] | None = None,
    project_ids: list[int] | None = None,
    environment_ids: list[int] | None = None,
) -> tuple[str, tuple]:
    """The version the grid ``dashboard`` would build now has, and the activity it is
    made of (a caller that goes on to render reuses it, read before the grid). Six
    queries whatever the size of the data, none of them per cell."""
    activity = dashboard_activity(
        user, group_ids=group_ids, project_ids=project_ids, environment_ids=environment_ids
    )
    # The same projects and environments as dashboard() shows, as rows: 500 model
    # instances would cost more than the queries.
    projects, environments = _dashboard_scope(
        user, group_ids=group_ids, project_ids=project_ids, environment_ids=environment_ids
    )
    project_rows = list(projects.order_by().values_list(*PROJECT_COLUMNS))
    environment_rows = list(environments.order_by().values_list(*ENVIRONMENT_COLUMNS))
    reached = lifecycle_environment_ids({row[-1] for row in project_rows})
    version = dashboard_version(
        user,
        activity=activity,
        projects=project_rows,
        environments=environment_rows,
        reached=reached,
        frozen=frozen_now(),
    )
    return version, activity


def deployment_version(user: User, deployment: Deployment) -> str:
    """The version of a deployment's live part: the deployment's state and latest change,
    its steps' and interruptions' changing columns, the deployment it waits behind, the
    user's grants and teams (the cancel and take buttons) and the attention badge. Three
    queries (four while queued), plus the user's teams."""
    # A step run by agents changes its runs without changing itself: counted in the same query.
    steps = (
        deployment.steps.order_by("pk")
        .annotate(**{state: Count("runs", filter=Q(runs__state=state)) for state in RunState.values})
        .values_list("pk", "state", "started_at", "finished_at", "exit_code", "skip_reason", *RunState.values)
    )
    # The count of answers: a quorum's approval changes no column of its interruption.
    interruptions = (
        deployment.interruptions.order_by("pk")
        .annotate(answers=Count("approvals"))
        .values_list(
            "pk",
            "pending",
            "assignee_id",
            "taken_at",
            "submitted_by_id",
            "submitted_at",
            "result",
            "guidance",
            "notes",
            "answers",
        )
    )
    ahead = None
    if deployment.state == DeploymentState.QUEUED:
        holder = deployment_queue_position(deployment)
        ahead = holder and (holder.pk, holder.state, holder.release.version)
    return _digest(
        _viewer(user, teams=True),
        deployment.state,
        deployment.updated_at,
        str(deployment.environment),
        list(steps),
        list(interruptions),
        ahead,
        attention_count(user),
    )


# What My tasks shows of an interruption that can change while it waits: who holds it
# and since when, and the names of its project and environment.
TASK_COLUMNS = (
    "pk",
    "assignee_id",
    "taken_at",
    "deployment__project__name",
    "deployment__project__slug",
    "deployment__environment__name",
)


def interruption_list_version(user: User, interruptions: list[Interruption] | None = None) -> str:
    """The version of My tasks: which interruptions wait for the user and what of them
    changes while they wait, the user's grants and teams (the take buttons), and so the
    attention badge (their number). Given the interruptions a page shows it reads
    nothing; otherwise one query."""
    if interruptions is None:
        rows = list(interruption_list_actionable(user).prefetch_related(None).values_list(*TASK_COLUMNS))
    else:
        rows = [
            (
                i.pk,
                i.assignee_id,
                i.taken_at,
                i.deployment.project.name,
                i.deployment.project.slug,
                i.deployment.environment.name,
            )
            for i in interruptions
        ]
    return _digest(_viewer(user, teams=True), rows)
