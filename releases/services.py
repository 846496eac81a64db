"""Every change people (and pipelines) make to releases, deployments and interruptions.

Each service checks that the actor may (pages and the API only decide what to show),
validates its input, takes the row locks in the engine's order and calls the engine verb,
which changes state, writes the task log and the audit event in the same transaction and
publishes Celery messages after commit. ``actor=None`` is the system.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone

from lifecycles.models import Environment
from processes.models import Project, Step
from releases import engine, permissions, selectors
from releases.choices import InterruptionType, RunState
from releases.models import (
    DashboardPreference,
    Deployment,
    DeploymentStep,
    Freeze,
    Interruption,
    Release,
    ReleaseStep,
    StepRun,
)
from releases.runner import Outcome
from relman.exceptions import Conflict, InvalidInput, PermissionRefused
from relman.updates import apply_changes
from relman.wake import Listener
from targets import services as targets_services
from targets.models import Target
from teams.audit import audit_record
from teams.choices import Role
from teams.models import User
from teams.permissions import can_deploy, require_superuser
from teams.scoping import has_role
from variables import services as variables_services

VERSION_MAX_LENGTH = 100
# A deployment is scheduled at most this far ahead; later is a mistake, not a plan.
MAX_SCHEDULE_AHEAD = timedelta(days=366)


# --- releases ---------------------------------------------------------------------------


def release_create(
    *, project: Project, version: str, notes: str = "", actor: User | None, source_ip: str | None = None
) -> Release:
    """Creates a release with a snapshot of the project's process and variables as they are now.

    Refuses: no release_creator role (403), a disabled project or a duplicate version
    (409), an empty or overlong version, overlong notes (400).
    """
    version = (version or "").strip()
    if actor is not None and not has_role(actor, Role.RELEASE_CREATOR, project):
        raise PermissionRefused(f"You need the release creator role on {project} to create releases.")
    if project.disabled:
        raise Conflict(f"{project} is disabled; enable it before creating releases.", code="project_disabled")
    if not version:
        raise InvalidInput("A release needs a version.", code="version_required")
    if len(version) > VERSION_MAX_LENGTH or any(c.isspace() for c in version):
        raise InvalidInput(
            f"A version is at most {VERSION_MAX_LENGTH} characters with no spaces; got {version[:40]!r}.",
            code="invalid_version",
        )
    _check_length("notes", notes)
    try:
        with transaction.atomic():
            release = Release.objects.create(project=project, version=version, notes=notes, created_by=actor)
            _snapshot_process(release)
            variables_services.release_snapshot(release)
            audit_record(
                actor=actor,
                action="release.created",
                subject=release,
                project=project,
                changes={"version": version},
                source_ip=source_ip,
            )
            engine.deploy_automatic(release)
    except IntegrityError:
        if Release.objects.filter(project=project, version=version).exists():
            raise Conflict(
                f"{project} already has a release {version}; choose another version.",
                code="duplicate_version",
            ) from None
        raise
    return release


def _snapshot_process(release: Release) -> None:
    """Copies every field of every step, so editing the process never changes a release."""
    copied = [f.name for f in ReleaseStep._meta.concrete_fields if f.name not in ("id", "release")]
    m2m = [f.name for f in ReleaseStep._meta.many_to_many]
    steps = Step.objects.filter(project=release.project).order_by("position", "id").prefetch_related(*m2m)
    for position, step in enumerate(steps, start=1):
        values = {name: getattr(step, name) for name in copied}
        values["position"] = position
        snapshot = ReleaseStep.objects.create(release=release, **values)
        for name in m2m:
            getattr(snapshot, name).set(getattr(step, name).all())


@transaction.atomic
def release_update(
    *, release: Release, notes: str, actor: User | None, source_ip: str | None = None
) -> Release:
    """Changes the release's notes, the one thing about a release that may change (its
    version and process snapshot are the record of what was released).

    Refuses: no release_creator role on the project (403); overlong notes (400).
    """
    if actor is not None and not has_role(actor, Role.RELEASE_CREATOR, release.project):
        raise PermissionRefused(f"You need the release creator role on {release.project} to change releases.")
    _check_length("notes", notes)
    if notes == release.notes:
        return release
    before = release.notes
    release.notes = notes
    release.save(update_fields=["notes"])
    audit_record(
        actor=actor,
        action="release.updated",
        subject=release,
        project=release.project,
        changes={"notes": [before, notes]},
        source_ip=source_ip,
    )
    return release


# --- deployments ------------------------------------------------------------------------


@transaction.atomic
def deployment_create(
    *,
    release: Release,
    environment: Environment,
    actor: User,
    guided_failure: bool | None = None,
    queue_at: datetime | None = None,
    override_freeze: bool = False,
    reason: str = "",
    source_ip: str | None = None,
) -> Deployment:
    """Queues a deployment of the release's snapshot to the environment, to start now or
    at ``queue_at`` (a scheduled deployment, which waits while a freeze applies then).

    Refuses (``releases.permissions.deploy_refusal``): no deployer role for the project in
    that environment (403); a disabled project, or an environment the lifecycle does not
    allow yet, naming the phase and environments still missing (409); ``queue_at`` in the
    past or more than a year ahead (400); a freeze applying now (409 ``frozen``) unless a
    superuser deploys through it (``override_freeze``) with a reason (403, 400).
    """
    now = timezone.now()
    if queue_at is not None:
        if queue_at <= now:
            raise InvalidInput("queue_at is in the past; choose a moment to come.", code="queue_at_past")
        if queue_at > now + MAX_SCHEDULE_AHEAD:
            raise InvalidInput(
                "queue_at is more than a year ahead; schedule deployments within a year.",
                code="queue_at_too_far",
            )
    refusal = permissions.deploy_refusal(actor, release, environment, selectors.release_progress(release))
    if refusal:
        raise refusal
    if override_freeze:
        if not actor.is_superuser:
            raise PermissionRefused("Only a superuser may deploy through a freeze.")
        reason = reason.strip()
        if not reason:
            raise InvalidInput(
                "Deploying through a freeze needs a reason, recorded in the task log and audit trail.",
                code="reason_required",
            )
        _check_length("reasons", reason)
    elif queue_at is None:
        refusal = permissions.freeze_refusal(release.project_id, environment.pk, now)
        if refusal:
            raise refusal
    return engine.queue(
        release=release,
        environment=environment,
        actor=actor,
        guided_failure=guided_failure,
        queue_at=queue_at,
        freeze_override_reason=reason if override_freeze else "",
        frozen_by=permissions.freezes_applying(release.project_id, environment.pk, queue_at or now)
        if override_freeze
        else None,
        source_ip=source_ip,
    )


@transaction.atomic
def deployment_cancel(*, deployment: Deployment, actor: User, source_ip: str | None = None) -> Deployment:
    """Cancels a queued, executing or waiting deployment at once (``engine.cancel``).

    Cancelling a cancelled deployment changes nothing. Refuses: no deployer role (403), a
    deployment that already succeeded or failed (409).
    """
    if not can_deploy(actor, deployment.project, deployment.environment):
        raise PermissionRefused(
            f"You need the deployer role on {deployment.project} in {deployment.environment} to cancel."
        )
    deployment = engine.lock(deployment.pk)
    engine.cancel(deployment, actor, source_ip=source_ip)
    return deployment


# --- interruptions ----------------------------------------------------------------------


@transaction.atomic
def interruption_take(
    *,
    interruption: Interruption,
    actor: User,
    take_over: bool = False,
    override: bool = False,
    reason: str = "",
    source_ip: str | None = None,
) -> Interruption:
    """Assigns the interruption to the actor ("Assign to me").

    Taking one you already hold changes nothing. Refuses: someone not eligible (403, naming
    the teams that may); one already submitted (409); one someone else holds, unless
    ``take_over`` (409); ``override`` by anyone but a superuser, by the deployment's creator
    when the step prevents self-approval, or without a reason (403/400).
    Exactly one of two people taking at once wins.
    """
    deployment = engine.lock(interruption.deployment_id)
    interruption = engine.lock_interruption(interruption.pk)
    engine.check_open(interruption)
    if interruption.assignee_id == actor.pk:
        return interruption
    interruption.deployment = deployment
    if override:
        if not actor.is_superuser:
            raise PermissionRefused("Only a superuser may override the responsible teams.")
        refusal = permissions.self_approval_refusal(actor, interruption)
        if refusal:
            raise PermissionRefused(refusal)
        if not reason.strip():
            raise InvalidInput(
                "An override needs a reason, recorded in the task log and audit trail.",
                code="reason_required",
            )
    else:
        refusal = permissions.take_refusal(actor, interruption)
        if refusal:
            raise PermissionRefused(refusal)
    if interruption.is_quorum:
        raise Conflict(
            f"{interruption.title} needs {interruption.required_approvals} approvals: each approver answers"
            " it themselves, so there is nothing to take.",
            code="quorum",
        )
    previous = interruption.assignee
    if previous is not None and not (take_over or override):
        raise Conflict(
            f"{interruption.title} is already assigned to {previous.label}. Take it over to act instead of them.",
            code="already_taken",
        )
    engine.assign(
        deployment,
        interruption,
        actor,
        previous=previous,
        override_reason=reason if override else "",
        source_ip=source_ip,
    )
    return interruption


@transaction.atomic
def interruption_submit(
    *,
    interruption: Interruption,
    actor: User,
    result: str = "",
    guidance: str = "",
    notes: str = "",
    source_ip: str | None = None,
) -> Interruption:
    """Answers the interruption and lets the deployment continue.

    A manual intervention takes ``result`` proceed (the step succeeds) or abort (the step is
    aborted, counted as a failure); a guided failure takes ``guidance`` retry, ignore or
    fail. Only the assignee may submit; an unassigned one is taken and submitted in one
    step when the actor may take it. Refuses: the wrong answer for the type, notes over
    the limit (400); someone not eligible (403); already submitted, or held by someone
    else (409).
    """
    _check_length("notes", notes)
    deployment = engine.lock(interruption.deployment_id)
    interruption = engine.lock_interruption(interruption.pk)
    engine.check_open(interruption)
    choice = engine.check_answer(interruption, result=result, guidance=guidance)
    interruption.deployment = deployment
    interruption.step = DeploymentStep.objects.select_related("release_step").get(pk=interruption.step_id)
    if interruption.is_quorum:
        _check_may_approve(interruption, actor)
    elif interruption.assignee_id is None:
        refusal = permissions.take_refusal(actor, interruption)
        if refusal:
            raise PermissionRefused(refusal)
        engine.assign(deployment, interruption, actor, previous=None, source_ip=source_ip)
    elif interruption.assignee_id != actor.pk:
        raise Conflict(
            f"{interruption.title} is assigned to {interruption.assignee.label}; only they may submit it."
            " Take it over first.",
            code="assigned_to_other",
        )
    engine.answer(deployment, interruption, actor, choice=choice, notes=notes, source_ip=source_ip)
    return interruption


@transaction.atomic
def interruption_run_helper(
    *, interruption: Interruption, actor: User, source_ip: str | None = None
) -> list[StepRun]:
    """Runs the waiting step's helper script ("Run helper script"): on its target roles'
    targets, or on the built-in runner (``engine.helper_run``). Its output is offered as
    the notes; the person still proceeds or aborts.

    Refuses: anyone but the assignee — for a quorum, anyone who may not approve (403);
    a guided failure, an interruption already answered, a step without a helper script, a
    helper script already running, no matching target (409); a variable the script needs
    without a value (400).
    """
    deployment, interruption = _locked_for_helper(interruption, actor)
    return engine.helper_run(deployment, interruption, actor, source_ip=source_ip)


@transaction.atomic
def interruption_stop_helper(
    *, interruption: Interruption, actor: User, source_ip: str | None = None
) -> None:
    """Stops the waiting step's running helper script (``engine.helper_stop``).

    Refuses: as ``interruption_run_helper`` for who may (403) and which interruption
    (409); a helper script that is not running (409).
    """
    deployment, interruption = _locked_for_helper(interruption, actor)
    engine.helper_stop(deployment, interruption, actor, source_ip=source_ip)


def _locked_for_helper(interruption: Interruption, actor: User) -> tuple[Deployment, Interruption]:
    """The deployment and the open manual intervention, locked, once the actor may act on
    its helper script: its assignee, or for a quorum anyone who may approve."""
    deployment = engine.lock(interruption.deployment_id)
    interruption = engine.lock_interruption(interruption.pk)
    engine.check_open(interruption)
    if interruption.type != InterruptionType.MANUAL_INTERVENTION:
        raise Conflict(
            f"{interruption.title} is a guided failure: retry the step to run its script again.",
            code="not_a_manual_step",
        )
    interruption.deployment = deployment
    interruption.step = DeploymentStep.objects.select_related("release_step").get(pk=interruption.step_id)
    if interruption.is_quorum:
        refusal = permissions.take_refusal(actor, interruption)
        if refusal:
            raise PermissionRefused(refusal)
    elif interruption.assignee_id is None:
        raise PermissionRefused(
            f"Assign {interruption.title} to yourself first: only its assignee runs its helper script."
        )
    elif interruption.assignee_id != actor.pk:
        raise PermissionRefused(
            f"{interruption.title} is assigned to {interruption.assignee.label}; only they may run its"
            " helper script. Take it over first."
        )
    return deployment, interruption


def _check_may_approve(interruption: Interruption, actor: User) -> None:
    """A quorum is answered without a take: by each eligible person (the rule of taking,
    prevent self-approval included), once."""
    refusal = permissions.take_refusal(actor, interruption)
    if refusal:
        raise PermissionRefused(refusal)
    earlier = interruption.approvals.filter(user=actor).first()
    if earlier is not None:
        raise Conflict(
            f"You already answered {interruption.title} ({earlier.result}) at"
            f" {earlier.at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}; each approver answers once.",
            code="already_answered",
        )


# --- freezes -----------------------------------------------------------------------------


def _freeze_summary(freeze: Freeze) -> dict:
    return {
        "name": freeze.name,
        "reason": freeze.reason,
        "start": freeze.start.isoformat(),
        "end": freeze.end.isoformat(),
        "environments": sorted(e.slug for e in freeze.environments.all()),
        "projects": sorted(p.slug for p in freeze.projects.all()),
    }


def _check_freeze(freeze: Freeze, environments) -> None:
    if not freeze.name.strip():
        raise InvalidInput("A freeze needs a name.", code="name_required")
    if freeze.end <= freeze.start:
        raise InvalidInput(
            "A freeze ends after it starts; this end is not after the start.", code="invalid_period"
        )
    if environments is not None and not list(environments):
        raise InvalidInput("A freeze applies to at least one environment.", code="environments_required")
    _check_length("reasons", freeze.reason)


@transaction.atomic
def freeze_create(
    *,
    name: str,
    start: datetime,
    end: datetime,
    environments,
    projects=(),
    reason: str = "",
    actor: User | None,
    source_ip: str | None = None,
) -> Freeze:
    """Creates a freeze: from ``start`` (inclusive) to ``end`` (exclusive), deployments of
    the projects (none: every project) to the environments are refused.

    Refuses: an actor who is not a superuser (403); no name, an end not after the start, no
    environment (400).
    """
    require_superuser(actor, "create freezes")
    freeze = Freeze(name=name.strip(), reason=reason, start=start, end=end, created_by=actor)
    _check_freeze(freeze, environments)
    freeze.save()
    freeze.environments.set(environments)
    freeze.projects.set(projects)
    audit_record(
        actor=actor,
        action="freeze.created",
        subject=freeze,
        changes=_freeze_summary(freeze),
        source_ip=source_ip,
    )
    return freeze


@transaction.atomic
def freeze_update(
    *,
    freeze: Freeze,
    name: str | None = None,
    reason: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    environments=None,
    projects=None,
    actor: User | None,
    source_ip: str | None = None,
) -> Freeze:
    """Changes what is given (None: unchanged). Refuses as ``freeze_create`` does."""
    require_superuser(actor, "change freezes")
    before = _freeze_summary(freeze)
    apply_changes(
        freeze,
        {"name": name.strip() if name is not None else None, "reason": reason, "start": start, "end": end},
    )
    _check_freeze(freeze, environments)
    freeze.save()
    if environments is not None:
        freeze.environments.set(environments)
    if projects is not None:
        freeze.projects.set(projects)
    after = _freeze_summary(freeze)
    changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    if changes:
        audit_record(
            actor=actor, action="freeze.updated", subject=freeze, changes=changes, source_ip=source_ip
        )
    return freeze


@transaction.atomic
def freeze_delete(*, freeze: Freeze, actor: User | None, source_ip: str | None = None) -> None:
    """Deletes a freeze: deployments it refused may go, scheduled ones it held start."""
    require_superuser(actor, "delete freezes")
    audit_record(
        actor=actor,
        action="freeze.deleted",
        subject=freeze,
        changes=_freeze_summary(freeze),
        source_ip=source_ip,
    )
    freeze.delete()


# --- preferences --------------------------------------------------------------------------


def dashboard_preference_save(
    *, user: User, group_ids: list[int], project_ids: list[int], environment_ids: list[int]
) -> None:
    """Remembers the dashboard filters the user chose, restored on their next visit. A
    personal preference: not audited."""
    DashboardPreference.objects.update_or_create(
        user=user,
        defaults={"group_ids": group_ids, "project_ids": project_ids, "environment_ids": environment_ids},
    )


def dashboard_preference_clear(*, user: User) -> None:
    """Forgets the user's dashboard filters; forgetting none changes nothing."""
    DashboardPreference.objects.filter(user=user).delete()


def _check_length(field: str, value: str) -> None:
    limit = settings.RELMAN_NOTES_MAX_LENGTH
    if value and len(value) > limit:
        raise InvalidInput(
            f"{field.capitalize()} are limited to {limit:,} characters; these have {len(value):,}.",
            code="too_long",
        )


# --- agents on targets ------------------------------------------------------------------
#
# An agent acts as its target (targets.authentication): it sees only its own target's runs,
# and a run it does not hold is 404 to it. Its every request counts as its heartbeat.

# An output report carries at most this many lines; the agent sends more in several.
AGENT_REPORT_MAX_LINES = 500
LINE_TRUNCATED = " … [line truncated: {total:,} characters, {kept:,} kept]"


@dataclass(frozen=True)
class AgentJob:
    """What an agent needs to run a claimed run."""

    run: StepRun
    script: str
    variables: dict[str, str]
    timeout_seconds: int


def agent_claim(
    *, target: Target, hostname: str = "", agent_version: str = "", wait_seconds: float = 0
) -> AgentJob | None:
    """The next run of the target, claimed once for the calling agent (``engine.run_claim``),
    or None when none becomes runnable within ``wait_seconds``. The wait is a wake-up on
    the target's channel (relman.wake), not a sleep loop: a run made runnable while the
    agent waits reaches it within milliseconds. A disabled target is given nothing."""
    targets_services.target_seen(target=target, hostname=hostname, agent_version=agent_version)
    if not target.enabled:
        return None
    deadline = time.monotonic() + wait_seconds
    with Listener(engine.target_channel(target.pk)) as listener:
        while True:
            run = engine.run_claim(target)
            if run is not None:
                related = engine.Related(run.step.deployment_id, target=target)
                return AgentJob(
                    run=run,
                    script=related.substitute(run.step.release_step.script),
                    # Only this run's values: those that apply to this target.
                    variables={
                        **related.script_variables(),
                        "RELMAN_TARGET": target.name,
                        **related.variable_environment(),
                    },
                    timeout_seconds=run.step.release_step.timeout_seconds,
                )
            if not listener.wait(deadline - time.monotonic()):
                return None


def agent_run(*, target: Target, run_id: int, attempt: int) -> StepRun:
    """The run the agent holds: its target's, of this attempt, still running. Another
    target's run, or one that does not exist, is 404; one of an earlier attempt, or one no
    longer running, is 409."""
    targets_services.target_seen(target=target)
    run = StepRun.objects.select_related("target").filter(pk=run_id, target=target).first()
    if run is None:
        raise Http404(f"Run {run_id} is not one of {target.name}'s.")
    if run.attempt != attempt:
        raise Conflict(f"Run {run_id} is on attempt {run.attempt}, not {attempt}.", code="run_superseded")
    return run


def agent_report(*, target: Target, run_id: int, attempt: int, lines: list[tuple[str, str]]) -> bool:
    """Output lines (and a heartbeat) from the agent holding the run; returns whether the
    run is still wanted (False: stop the script). Each line is cut at
    RELMAN_AGENT_LINE_MAX_CHARS with a marker; past the run's first
    RELMAN_AGENT_OUTPUT_MAX_LINES − RELMAN_AGENT_OUTPUT_TAIL_LINES lines, lines are counted
    and not kept (the agent sends the tail when it finishes).

    Refuses: a run that is not the agent's (404), of another attempt or no longer running
    (409), more than AGENT_REPORT_MAX_LINES lines at once (400)."""
    run = agent_run(target=target, run_id=run_id, attempt=attempt)
    if run.state != RunState.RUNNING:
        raise Conflict(f"Run {run_id} is {run.state}; it no longer takes output.", code="run_finished")
    if len(lines) > AGENT_REPORT_MAX_LINES:
        raise InvalidInput(f"A report carries at most {AGENT_REPORT_MAX_LINES} lines.", code="too_many_lines")
    head = settings.RELMAN_AGENT_OUTPUT_MAX_LINES - settings.RELMAN_AGENT_OUTPUT_TAIL_LINES
    room = max(0, head - run.output_lines)
    if lines:
        StepRun.objects.filter(pk=run.pk).update(output_lines=F("output_lines") + len(lines))
    return engine.run_report(run, [(level, _bounded(text)) for level, text in lines[:room]])


def agent_finish(
    *,
    target: Target,
    run_id: int,
    attempt: int,
    exit_code: int | None,
    timed_out: bool = False,
    cancelled: bool = False,
    tail: list[tuple[str, str]] = (),
    omitted: int = 0,
) -> None:
    """How the agent's run ended, with the last lines of a long output. Idempotent: the
    same report again changes nothing (the agent retries until it hears back).

    Refuses: a run that is not the agent's (404); a run of another attempt, or one the
    sweep already decided (409)."""
    run = agent_run(target=target, run_id=run_id, attempt=attempt)
    head = settings.RELMAN_AGENT_OUTPUT_MAX_LINES - settings.RELMAN_AGENT_OUTPUT_TAIL_LINES
    tail = list(tail)[-settings.RELMAN_AGENT_OUTPUT_TAIL_LINES :]
    dropped = max(0, run.output_lines - head)
    outcome = Outcome(exit_code=exit_code, timed_out=timed_out, cancelled=cancelled)
    tail = [(level, _bounded(text)) for level, text in tail]
    if not engine.run_finish(run.pk, attempt, outcome, tail=tail, omitted=dropped + max(0, omitted)):
        run.refresh_from_db(fields=["state"])
        raise Conflict(
            f"Run {run_id} was already {run.state}; this report was not recorded.", code="run_finished"
        )


def _bounded(text: str) -> str:
    limit = settings.RELMAN_AGENT_LINE_MAX_CHARS
    if len(text) <= limit:
        return text
    return text[:limit] + LINE_TRUNCATED.format(total=len(text), kept=limit)
