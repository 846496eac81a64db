"""Every change people (and pipelines) make to releases, deployments and interruptions.

Each service checks the caller's permission again (pages and the API only decide what to
show), changes state under a row lock in one transaction with its task-log lines and audit
event, and publishes Celery messages after commit. ``actor=None`` is the system.
"""

from __future__ import annotations

from datetime import UTC

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from lifecycles import progression
from lifecycles.models import Environment, PhaseEnvironment
from processes.models import Project, Step
from releases import engine
from releases.choices import (
    DEPLOYMENT_TERMINAL,
    DeploymentState,
    Guidance,
    InterruptionResult,
    InterruptionType,
    LogLevel,
    StepState,
)
from releases.models import Deployment, DeploymentStep, Interruption, Release, ReleaseStep
from relman.exceptions import Conflict, InvalidInput, PermissionRefused
from teams import permissions
from teams.models import User
from teams.services import audit_record

VERSION_MAX_LENGTH = 100


# --- releases ---------------------------------------------------------------------------


def release_create(
    *, project: Project, version: str, notes: str = "", actor: User | None, source_ip: str | None = None
) -> Release:
    """Creates a release with a snapshot of the project's process as it is now.

    Refuses: no release_creator role (403), a disabled project (409), an empty, overlong
    or duplicate version, overlong notes (400).
    """
    version = (version or "").strip()
    if actor is not None and not permissions.has_role(actor, "release_creator", project):
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
            audit_record(
                actor=actor,
                action="release.created",
                subject=release,
                project=project,
                changes={"version": version},
                source_ip=source_ip,
            )
            release_deploy_automatic(release=release)
    except IntegrityError:
        if Release.objects.filter(project=project, version=version).exists():
            raise InvalidInput(
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


def release_progress(release: Release) -> list[progression.PhaseProgress]:
    """The lifecycle progression of a release: every phase and environment, with whether
    it may be deployed there now and why not. The lifecycle is read live from the project."""
    states = Deployment.objects.filter(release=release).values_list("environment_id", "state")
    succeeded = {env for env, state in states if state == DeploymentState.SUCCESS}
    reached = {env for env, _ in states}
    return progression.evaluate(
        phases=progression.lifecycle_phases(release.project.lifecycle_id),
        succeeded_ids=succeeded,
        reached_ids=reached,
        subject=_subject(release),
    )


def release_deploy_automatic(*, release: Release) -> list[Deployment]:
    """Deploys the release, as the system, to every automatic environment that is open now
    and not yet reached (lifecycle rule 4)."""
    automatic = PhaseEnvironment.objects.filter(
        phase__lifecycle_id=release.project.lifecycle_id, automatic=True
    )
    if not automatic.exists():
        return []  # most lifecycles have none: no need to work out the whole progression
    targets = progression.automatic_targets(release_progress(release))
    return [deployment_create(release=release, environment=env, actor=None) for env in targets]


def _subject(release: Release) -> str:
    return f"Release {release.version} of {release.project}"


# --- deployments ------------------------------------------------------------------------


@transaction.atomic
def deployment_create(
    *,
    release: Release,
    environment: Environment,
    actor: User | None,
    guided_failure: bool | None = None,
    source_ip: str | None = None,
) -> Deployment:
    """Queues a deployment of the release's snapshot to the environment.

    Refuses: no deployer role for the project in that environment (403); a disabled
    project, or an environment the lifecycle does not allow yet, naming the phase and
    environments still missing (409).
    """
    project = release.project
    if actor is not None and not permissions.can_deploy(actor, project, environment):
        raise PermissionRefused(f"You need the deployer role on {project} in {environment} to deploy there.")
    if project.disabled:
        raise Conflict(f"{project} is disabled; enable it before deploying.", code="project_disabled")
    refusal = progression.deploy_refusal(
        progress=release_progress(release),
        environment=environment,
        lifecycle=project.lifecycle,
        subject=_subject(release),
    )
    if refusal:
        raise Conflict(refusal, code="lifecycle")

    deployment = Deployment.objects.create(
        release=release,
        project=project,
        environment=environment,
        created_by=actor,
        guided_failure=project.guided_failure if guided_failure is None else guided_failure,
    )
    by = actor.label if actor else "System (lifecycle automatic deployment)"
    decision = engine.Decision(deployment)
    decision.log(f"Queued by {by}: {project} {release.version} to {environment}.")
    steps = []
    for release_step in release.steps.prefetch_related("environments", "excluded_environments").order_by(
        "position"
    ):
        skip = _not_applicable(release_step, environment)
        steps.append(
            DeploymentStep(
                deployment=deployment,
                release_step=release_step,
                position=release_step.position,
                state=StepState.SKIPPED if skip else StepState.PENDING,
                skip_reason=skip,
            )
        )
    DeploymentStep.objects.bulk_create(steps)
    for step in steps:
        if step.skip_reason:
            decision.log(f"{step.title} skipped: {step.skip_reason}", step=step, level=LogLevel.VERBOSE)
    decision.write()
    audit_record(
        actor=actor,
        action="deployment.created",
        subject=deployment,
        project=project,
        environment=environment,
        changes={"release": release.version, "guided_failure": deployment.guided_failure},
        source_ip=source_ip,
    )
    engine.enqueue_advance(deployment.pk)
    return deployment


def _not_applicable(release_step: ReleaseStep, environment: Environment) -> str:
    """Why the step does not run in this environment, or "" when it does."""
    if not release_step.enabled:
        return "the step is disabled."
    only = list(release_step.environments.all())
    if only and environment not in only:
        return f"the step runs only in {', '.join(e.name for e in only)}."
    if environment in release_step.excluded_environments.all():
        return f"the step is excluded from {environment}."
    return ""


@transaction.atomic
def deployment_cancel(*, deployment: Deployment, actor: User, source_ip: str | None = None) -> Deployment:
    """Cancels a queued, executing or waiting deployment at once; a running script is
    stopped by its worker within a heartbeat. Pending interruptions are closed.

    Cancelling a cancelled deployment changes nothing. Refuses: no deployer role (403), a
    deployment that already succeeded or failed (409).
    """
    if not permissions.can_deploy(actor, deployment.project, deployment.environment):
        raise PermissionRefused(
            f"You need the deployer role on {deployment.project} in {deployment.environment} to cancel."
        )
    deployment = _lock_deployment(deployment.pk)
    if deployment.state == DeploymentState.CANCELLED:
        return deployment
    if deployment.state in DEPLOYMENT_TERMINAL:
        raise Conflict(
            f"This deployment already finished ({deployment.get_state_display().lower()}); there is nothing to cancel.",
            code="already_finished",
        )
    was = deployment.state
    now = timezone.now()
    reason = f"Cancelled by {actor.label}."
    for interruption in deployment.interruptions.filter(pending=True):
        interruption.pending = False
        interruption.notes = reason
        interruption.save(update_fields=["pending", "notes"])
    for step in deployment.steps.filter(state__in=[StepState.PENDING, StepState.WAITING]):
        engine.set_step_state(step, StepState.SKIPPED, skip_reason=reason, finished_at=now)
    decision = engine.Decision(deployment)
    decision.transition(DeploymentState.CANCELLED, finished_at=now)
    decision.log(f"Deployment cancelled by {actor.label} at {_iso(now)}.", level=LogLevel.WARNING)
    decision.write()
    audit_record(
        actor=actor,
        action="deployment.cancelled",
        subject=deployment,
        project=deployment.project,
        environment=deployment.environment,
        changes={"state": [was, DeploymentState.CANCELLED]},
        source_ip=source_ip,
    )
    if was != DeploymentState.QUEUED:
        engine.pass_slot_on(deployment)
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
    ``take_over`` (409); ``override`` by anyone but a superuser, or without a reason (403/400).
    Exactly one of two people taking at once wins.
    """
    interruption = _lock_interruption(interruption)
    _check_pending(interruption)
    if interruption.assignee_id == actor.pk:
        return interruption
    if override:
        if not actor.is_superuser:
            raise PermissionRefused("Only a superuser may override the responsible teams.")
        if not reason.strip():
            raise InvalidInput(
                "An override needs a reason, recorded in the task log and audit trail.",
                code="reason_required",
            )
    else:
        refusal = permissions.take_refusal(actor, interruption)
        if refusal:
            raise PermissionRefused(refusal)
    previous = interruption.assignee
    if previous is not None and not (take_over or override):
        raise Conflict(
            f"{interruption.title} is already assigned to {previous.label}. Take it over to act instead of them.",
            code="already_taken",
        )
    _assign(
        interruption,
        actor,
        deployment=Deployment.objects.select_related("project", "environment").get(
            pk=interruption.deployment_id
        ),
        previous=previous,
        override_reason=reason if override else "",
        source_ip=source_ip,
    )
    return interruption


def _assign(
    interruption: Interruption,
    actor: User,
    *,
    deployment: Deployment,
    previous: User | None,
    override_reason: str = "",
    source_ip: str | None,
) -> None:
    interruption.assignee = actor
    interruption.taken_at = timezone.now()
    interruption.save(update_fields=["assignee", "taken_at"])
    if override_reason:
        engine.log(
            deployment,
            f"OVERRIDE: {actor.label} (superuser, not in the responsible teams) took responsibility"
            f" for {interruption.title}. Reason: {override_reason}",
            step=interruption.step,
            level=LogLevel.WARNING,
        )
    elif previous is not None:
        engine.log(
            deployment,
            f"{actor.label} took over {interruption.title} from {previous.label}.",
            step=interruption.step,
            level=LogLevel.WARNING,
        )
    else:
        engine.log(deployment, f"{interruption.title} assigned to {actor.label}.", step=interruption.step)
    audit_record(
        actor=actor,
        action="interruption.overridden" if override_reason else "interruption.taken",
        subject=interruption,
        project=deployment.project,
        environment=deployment.environment,
        changes={
            "assignee": [previous.username if previous else None, actor.username],
            **({"reason": override_reason} if override_reason else {}),
        },
        source_ip=source_ip,
    )


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
    # The deployment before the interruption: the order in which the engine and cancel lock
    # them, so that a submit and a cancel at once cannot deadlock.
    deployment = _lock_deployment(interruption.deployment_id)
    interruption = _lock_interruption(interruption)
    _check_pending(interruption)
    _check_answer(interruption, result, guidance)
    step = DeploymentStep.objects.select_related("release_step").get(pk=interruption.step_id)
    interruption.deployment, interruption.step = deployment, step
    if interruption.assignee_id is None:
        refusal = permissions.take_refusal(actor, interruption)
        if refusal:
            raise PermissionRefused(refusal)
        _assign(interruption, actor, deployment=deployment, previous=None, source_ip=source_ip)
    elif interruption.assignee_id != actor.pk:
        raise Conflict(
            f"{interruption.title} is assigned to {interruption.assignee.label}; only they may submit it."
            " Take it over first.",
            code="assigned_to_other",
        )
    who = _who(actor, interruption)
    answer = result or guidance
    decision = engine.Decision(deployment)
    engine.resume(decision, held_slot=interruption.blocks_deployments)

    now = timezone.now()
    interruption.pending = False
    interruption.result = result
    interruption.guidance = guidance
    interruption.notes = notes
    interruption.submitted_by = actor
    interruption.submitted_at = now
    interruption.save(
        update_fields=["pending", "result", "guidance", "notes", "submitted_by", "submitted_at"]
    )
    _apply_answer(decision, step, answer, now)
    decision.log(
        f"Submitted by: {who} at {_iso(now)}",
        f"Result: {answer.capitalize()}",
        *([f"Notes: {notes}"] if notes else []),
        step=step,
    )
    decision.write()
    audit_record(
        actor=actor,
        action="interruption.submitted",
        subject=interruption,
        project=deployment.project,
        environment=deployment.environment,
        changes={"result": result, "guidance": guidance, "notes": notes},
        source_ip=source_ip,
    )
    engine.enqueue_advance(deployment.pk)
    return interruption


def _apply_answer(decision: engine.Decision, step: DeploymentStep, answer: str, now) -> None:
    title = step.title
    if answer == InterruptionResult.PROCEED:
        engine.set_step_state(step, StepState.SUCCESS, finished_at=now)
        decision.log(f"== Success: {title} ==", step=step)
        decision.log(f"{step.name} completed", "Resuming after completion", step=step, level=LogLevel.VERBOSE)
    elif answer == InterruptionResult.ABORT:
        engine.set_step_state(step, StepState.ABORTED, finished_at=now)
        decision.log(f"== Aborted: {title} ==", step=step, level=LogLevel.ERROR)
    elif answer == Guidance.RETRY:
        engine.set_step_state(step, StepState.PENDING)
        decision.log(f"Retrying {title}.", step=step, level=LogLevel.WARNING)
    elif answer == Guidance.IGNORE:
        engine.set_step_state(
            step, StepState.SKIPPED, skip_reason="Failure ignored by choice.", finished_at=now
        )
        decision.log(f"== Ignored failure: {title} ==", step=step, level=LogLevel.WARNING)
    else:
        engine.set_step_state(step, StepState.FAILED, finished_at=now)
        decision.log(f"== Failed: {title} ==", step=step, level=LogLevel.ERROR)


def _lock_deployment(pk: int) -> Deployment:
    # The joined rows only give names to the log and the audit trail; the deployment's own
    # row is the one read after the lock.
    return (
        Deployment.objects.select_for_update(of=("self",))
        .select_related("project", "release", "environment")
        .get(pk=pk)
    )


def _lock_interruption(interruption: Interruption) -> Interruption:
    # No select_related here: after waiting for the lock, PostgreSQL returns the locked
    # row's new version but joined rows as they were, so a joined assignee would be stale.
    return Interruption.objects.select_for_update().get(pk=interruption.pk)


def _check_pending(interruption: Interruption) -> None:
    if interruption.pending:
        return
    if interruption.submitted_by_id:
        when = _iso(interruption.submitted_at)
        raise Conflict(
            f"{interruption.title} was already submitted by {interruption.submitted_by.label} at {when}.",
            code="already_submitted",
        )
    raise Conflict(f"{interruption.title} is closed: the deployment was cancelled.", code="already_closed")


def _check_answer(interruption: Interruption, result: str, guidance: str) -> None:
    if interruption.type == InterruptionType.MANUAL_INTERVENTION:
        if guidance or result not in InterruptionResult.values:
            raise InvalidInput(
                'A manual intervention is answered with result "proceed" or "abort".', code="invalid_result"
            )
    elif result or guidance not in Guidance.values:
        raise InvalidInput(
            'A guided failure is answered with guidance "retry", "ignore" or "fail".', code="invalid_guidance"
        )


def _check_length(field: str, value: str) -> None:
    limit = settings.RELMAN_NOTES_MAX_LENGTH
    if value and len(value) > limit:
        raise InvalidInput(
            f"{field.capitalize()} are limited to {limit:,} characters; these have {len(value):,}.",
            code="too_long",
        )


def _who(actor: User, interruption: Interruption) -> str:
    """``Sarah (DBA Team)``: the submitter and the responsible team they belong to."""
    mine = list(
        interruption.responsible_teams.filter(members=actor).order_by("name").values_list("name", flat=True)
    )
    return f"{actor.label} ({', '.join(mine)})" if mine else actor.label


def _iso(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
