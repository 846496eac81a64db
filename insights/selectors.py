"""The figures of Insights (SPEC §12), read from the history the engine already records.

Nothing here is stored: each figure is an SQL aggregate over deployments, their steps and
their interruptions, computed when asked, in a number of queries that does not depend on
the history's size: seven for a project's insights (three for its lifecycle's
environments, one for its process, three for the figures), three for the overview.

Medians are taken in SQL with window functions that PostgreSQL and SQLite both run:
``ROW_NUMBER`` and ``COUNT`` over each group pick its middle row (odd count) or its two
middle rows (even count), whose average is the median.

Which deployments count: those created within the last ``days`` (the window's first
instant included), in the environments the user may see.

How a step is named across releases: by its name in each release's snapshot, the name
the deployment ran under. A step renamed between releases therefore appears under each of
its names, each with the runs made under it; its automation level is the current
process's step of that name, or, for a name no longer in the process, the level of its
latest snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from lifecycles.models import Environment
from lifecycles.progression import lifecycle_phases
from processes.choices import AUTOMATION_LEVEL_SCRIPT
from processes.models import Project, Step
from releases.choices import DeploymentState, InterruptionType, StepState
from releases.models import Deployment, ReleaseStep
from relman.exceptions import InvalidInput
from relman.templatetags.relman_tags import duration
from teams.choices import Role
from teams.scoping import has_role

if TYPE_CHECKING:
    from teams.models import User

DEFAULT_DAYS = 90
MAX_DAYS = 3650
WEEK_SECONDS = 7 * 24 * 3600
# The overview lists this many steps to automate, across every project the user sees.
OVERVIEW_LIMIT = 20


@dataclass(frozen=True)
class StepFigures:
    name: str
    automation_level: int
    runs: int
    median_wait_seconds: int | None
    median_work_seconds: int | None
    aborts: int
    failures: int
    human_seconds: int
    # Only a step still in the process can be automated next.
    in_process: bool = True


@dataclass(frozen=True)
class Candidate:
    """A manual step worth automating, and why."""

    step: str
    human_seconds: int
    runs: int
    project: Project

    @property
    def reason(self) -> str:
        deployments = "deployment" if self.runs == 1 else "deployments"
        return (
            f"{self.step}: {format_duration(self.human_seconds)} of waiting and work "
            f"over {self.runs} {deployments}"
        )


@dataclass(frozen=True)
class Week:
    start: datetime
    deployments: int
    lead_time_median_seconds: int | None


@dataclass(frozen=True)
class EnvironmentFigures:
    environment: Environment
    deployments: int
    frequency_per_week: float
    lead_time_median_seconds: int | None
    change_failure_rate: float | None
    time_to_restore_median_seconds: int | None
    weeks: list[Week] = field(default_factory=list)


@dataclass(frozen=True)
class ProjectInsights:
    project: Project
    days: int
    since: datetime
    environment: Environment | None
    steps: list[StepFigures]
    automate_next: list[Candidate]
    dora: list[EnvironmentFigures]


def format_duration(seconds: int) -> str:
    """'6 h 20 min', '12 min 5 s', '45 s': the task page's durations."""
    return duration(timedelta(seconds=seconds))


# --- SQL -------------------------------------------------------------------------------------


def _seconds(start: str, end: str) -> str:
    """SQL for the seconds from ``start`` to ``end`` (two timestamp columns)."""
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({end} - {start}))"
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


def _whole(number: str) -> str:
    """SQL rounding a non-negative number down to an integer (PostgreSQL's CAST rounds)."""
    if connection.vendor == "postgresql":
        return f"CAST(FLOOR({number}) AS INTEGER)"
    return f"CAST({number} AS INTEGER)"


def _medians(source: str, keys: str) -> str:
    """SQL of the median and the sum of ``v`` per ``keys`` over the rows of ``source``
    (a CTE with columns ``keys`` and ``v``): the middle row, or the average of the two
    middle rows, of each group ordered by ``v``."""
    return f"""
        SELECT {keys}, AVG(v) AS median, MAX(total) AS total FROM (
            SELECT {keys}, v,
                ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY v) AS rn,
                COUNT(*) OVER (PARTITION BY {keys}) AS n,
                SUM(v) OVER (PARTITION BY {keys}) AS total
            FROM {source}
        ) ranked
        WHERE rn IN ((n + 1) / 2, (n + 2) / 2)
        GROUP BY {keys}"""


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _deployments_sql(queryset) -> tuple[str | None, list]:
    """The SQL of the deployments that count, for a CTE; None when there are none."""
    columns = ("id", "project_id", "environment_id", "release_id", "state", "created_at", "finished_at")
    try:
        sql, params = queryset.order_by().values(*columns).query.sql_with_params()
    except EmptyResultSet:
        return None, []
    return sql, list(params)


def _interruption_spans() -> str:
    """SQL of each interruption's wait (raised → taken) and work (taken → submitted) of
    the counted steps ``s``: a span not yet closed is not measured."""
    return f"""
        waits AS (
            SELECT s.name, {_seconds("i.created_at", "i.taken_at")} AS v
            FROM releases_interruption i JOIN s ON s.id = i.step_id
            WHERE i.taken_at IS NOT NULL
        ),
        works AS (
            SELECT s.name, {_seconds("i.taken_at", "i.submitted_at")} AS v
            FROM releases_interruption i JOIN s ON s.id = i.step_id
            WHERE i.taken_at IS NOT NULL AND i.submitted_at IS NOT NULL
        )"""


def _round(value) -> int | None:
    return None if value is None else round(value)


# --- a project -------------------------------------------------------------------------------


def visible_environments(user: User, project: Project) -> list[Environment]:
    """The environments of the project's lifecycle, in phase order, that the user sees."""
    environments: list[Environment] = []
    for phase in lifecycle_phases(project.lifecycle_id):
        for pe in phase.phase_environments.all():
            if pe.environment not in environments and has_role(user, Role.VIEWER, project, pe.environment):
                environments.append(pe.environment)
    return environments


def project_insights(
    user: User,
    project: Project,
    *,
    days: int = DEFAULT_DAYS,
    environment: Environment | None = None,
    environments: list[Environment] | None = None,
    now: datetime | None = None,
) -> ProjectInsights:
    """The project's step figures, steps to automate next and DORA figures per environment,
    over the deployments created in the last ``days`` that the user may see (in
    ``environment`` only, when given). The caller has checked the user sees the project;
    it may pass the ``visible_environments`` it has read already."""
    since = (now or timezone.now()) - timedelta(days=days)
    if environments is None:
        environments = visible_environments(user, project)
    if environment is not None:
        if environment not in environments:
            raise InvalidInput(
                f"{project} is not deployed to {environment}: choose an environment of its lifecycle "
                f"{project.lifecycle}."
            )
        environments = [environment]
    deployments = Deployment.objects.visible_to(user).filter(
        project=project, created_at__gte=since, environment__in=[e.pk for e in environments]
    )
    deployments_sql, params = _deployments_sql(deployments)
    steps = _step_figures(project, deployments_sql, params)
    return ProjectInsights(
        project=project,
        days=days,
        since=since,
        environment=environment,
        steps=steps,
        automate_next=[
            Candidate(step=s.name, human_seconds=s.human_seconds, runs=s.runs, project=project)
            for s in sorted(steps, key=lambda s: -s.human_seconds)
            if s.human_seconds and s.automation_level < AUTOMATION_LEVEL_SCRIPT and s.in_process
        ],
        dora=_dora(environments, days, since, deployments_sql, params),
    )


def _step_figures(project: Project, deployments_sql: str | None, params: list) -> list[StepFigures]:
    rows = {}
    if deployments_sql is not None:
        sql = f"""
            WITH d AS ({deployments_sql}),
            s AS (
                SELECT ds.id, rs.name, ds.state
                FROM releases_deploymentstep ds
                JOIN d ON d.id = ds.deployment_id
                JOIN releases_releasestep rs ON rs.id = ds.release_step_id
                WHERE ds.state NOT IN (%s, %s)
            ),
            {_interruption_spans()},
            wait_figures AS ({_medians("waits", "name")}),
            work_figures AS ({_medians("works", "name")})
            SELECT s.name, COUNT(*),
                SUM(CASE WHEN s.state = %s THEN 1 ELSE 0 END),
                SUM(CASE WHEN s.state = %s THEN 1 ELSE 0 END),
                MAX(wf.median), MAX(wf.total), MAX(kf.median), MAX(kf.total)
            FROM s
            LEFT JOIN wait_figures wf ON wf.name = s.name
            LEFT JOIN work_figures kf ON kf.name = s.name
            GROUP BY s.name"""
        states = [StepState.PENDING, StepState.SKIPPED, StepState.ABORTED, StepState.FAILED]
        rows = {row[0]: row for row in _fetch(sql, [*params, *states])}
    levels = {step.name: step.automation_level for step in Step.objects.filter(project=project)}
    removed = set(rows) - set(levels)
    if removed:
        latest = ReleaseStep.objects.filter(release__project=project, name__in=removed).values("name")
        levels_then = {
            step.name: step.automation_level
            for step in ReleaseStep.objects.filter(id__in=latest.annotate(last=Max("id")).values("last"))
        }
    else:
        levels_then = {}
    figures = []
    for name in [*levels, *sorted(removed)]:
        _, runs, aborts, failures, wait, wait_total, work, work_total = rows.get(
            name, (name, 0, 0, 0, None, None, None, None)
        )
        figures.append(
            StepFigures(
                name=name,
                automation_level=levels.get(name) or levels_then[name],
                runs=runs,
                median_wait_seconds=_round(wait),
                median_work_seconds=_round(work),
                aborts=aborts,
                failures=failures,
                human_seconds=round((wait_total or 0) + (work_total or 0)),
                in_process=name in levels,
            )
        )
    return figures


def _dora(
    environments: list[Environment], days: int, since: datetime, deployments_sql: str | None, params: list
) -> list[EnvironmentFigures]:
    by_environment: dict[int, tuple] = {}
    weeks: dict[int, dict[int, tuple[int, float | None]]] = {}
    if deployments_sql is not None:
        success, failed = DeploymentState.SUCCESS, DeploymentState.FAILED
        lead_times = f"""
            leads AS (
                SELECT d.environment_id AS env, {_whole(_seconds("%s", "d.created_at") + f" / {WEEK_SECONDS}")}
                    AS week, {_seconds("r.created_at", "d.finished_at")} AS v
                FROM d JOIN releases_release r ON r.id = d.release_id
                WHERE d.state = %s
            )"""
        since_param = connection.ops.adapt_datetimefield_value(since)
        sql = f"""
            WITH d AS ({deployments_sql}),
            {lead_times},
            finished AS (
                SELECT d.environment_id AS env, d.state, d.finished_at,
                    MIN(CASE WHEN d.state = %s THEN d.finished_at END) OVER (
                        PARTITION BY d.environment_id ORDER BY d.finished_at, d.id
                        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
                    ) AS next_success
                FROM d WHERE d.finished_at IS NOT NULL
            ),
            restores AS (
                SELECT env, {_seconds("finished_at", "next_success")} AS v
                FROM finished WHERE state = %s AND next_success IS NOT NULL
            ),
            lead_figures AS ({_medians("leads", "env")}),
            restore_figures AS ({_medians("restores", "env")})
            SELECT d.environment_id, COUNT(*),
                SUM(CASE WHEN d.state = %s THEN 1 ELSE 0 END),
                SUM(CASE WHEN d.state = %s THEN 1 ELSE 0 END),
                MAX(lf.median), MAX(rf.median)
            FROM d
            LEFT JOIN lead_figures lf ON lf.env = d.environment_id
            LEFT JOIN restore_figures rf ON rf.env = d.environment_id
            GROUP BY d.environment_id"""
        figures_params = [*params, since_param, success, success, failed, success, failed]
        by_environment = {row[0]: row for row in _fetch(sql, figures_params)}
        weekly = f"""
            WITH d AS ({deployments_sql}),
            {lead_times},
            counted AS (
                SELECT d.environment_id AS env,
                    {_whole(_seconds("%s", "d.created_at") + f" / {WEEK_SECONDS}")} AS week, COUNT(*) AS n
                FROM d GROUP BY 1, 2
            ),
            weekly_leads AS ({_medians("leads", "env, week")})
            SELECT c.env, c.week, c.n, wl.median
            FROM counted c LEFT JOIN weekly_leads wl ON wl.env = c.env AND wl.week = c.week"""
        for env, week, count, lead in _fetch(weekly, [*params, since_param, success, since_param]):
            weeks.setdefault(env, {})[week] = (count, lead)
    figures = []
    for environment in environments:
        _, count, successes, failures, lead, restore = by_environment.get(
            environment.pk, (None, 0, 0, 0, None, None)
        )
        finished = successes + failures
        env_weeks = weeks.get(environment.pk, {})
        figures.append(
            EnvironmentFigures(
                environment=environment,
                deployments=count,
                frequency_per_week=round(count * 7 / days, 2),
                lead_time_median_seconds=_round(lead),
                change_failure_rate=round(failures / finished, 4) if finished else None,
                time_to_restore_median_seconds=_round(restore),
                weeks=[
                    Week(
                        start=since + timedelta(weeks=index),
                        deployments=env_weeks.get(index, (0, None))[0],
                        lead_time_median_seconds=_round(env_weeks.get(index, (0, None))[1]),
                    )
                    for index in range(-(-days // 7))
                ],
            )
        )
    return figures


# --- every project -------------------------------------------------------------------------


def overview(user: User, *, days: int = DEFAULT_DAYS, now: datetime | None = None) -> list[Candidate]:
    """The manual steps that cost people most time across every project the user may see,
    most first: the project page's "automate next", ranked across projects. Three queries."""
    since = (now or timezone.now()) - timedelta(days=days)
    deployments_sql, params = _deployments_sql(
        Deployment.objects.visible_to(user).filter(created_at__gte=since)
    )
    if deployments_sql is None:
        return []
    # A manual step's run raises one interruption titled with the step's name (the engine
    # writes it so): grouping interruptions by title spares reading every deployment step,
    # which made this query four times slower. The rows are bounded by the configuration
    # (projects × step names), not by the history.
    sql = f"""
        WITH d AS ({deployments_sql})
        SELECT d.project_id, i.title, COUNT(*),
            SUM(CASE WHEN i.taken_at IS NOT NULL
                THEN {_seconds("i.created_at", "COALESCE(i.submitted_at, i.taken_at)")} ELSE 0 END) AS human
        FROM releases_interruption i JOIN d ON d.id = i.deployment_id
        WHERE i.type = %s
        GROUP BY d.project_id, i.title
        ORDER BY human DESC"""
    rows = _fetch(sql, [*params, InterruptionType.MANUAL_INTERVENTION])
    manual = {
        (step.project_id, step.name)
        for step in Step.objects.filter(project_id__in={row[0] for row in rows})
        if step.automation_level < AUTOMATION_LEVEL_SCRIPT
    }
    ranked = [row for row in rows if (row[0], row[1]) in manual and row[3]][:OVERVIEW_LIMIT]
    projects = Project.objects.in_bulk({row[0] for row in ranked})
    candidates = [
        Candidate(step=name, human_seconds=round(human), runs=runs, project=projects[project_id])
        for project_id, name, runs, human in ranked
    ]
    return candidates
