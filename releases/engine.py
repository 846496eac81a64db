"""The deployment engine: the one place where a deployment, its steps and its interruptions
change state. Services decide who may ask for a change and lock the rows; views, the API,
the admin and tasks reach the engine only through them (or, for workers, through
``deployment_advance`` and ``deployments_sweep``).

The verbs, read top to bottom:

1. ``queue`` creates a deployment with its steps; ``deploy_automatic`` queues a release, as
   the system, to the automatic environments its lifecycle now opens.
2. ``deployment_advance`` is what workers call. Under the deployment's row lock it takes
   the next decision (``_decide``): ``start`` a queued deployment when its (project,
   environment) slot is free, skip steps whose run condition or environment rules them out,
   raise an interruption for a manual step (the deployment then waits for a person and the
   worker is free), claim a script step — which it then runs outside any transaction
   through a ``releases.runner.Runner`` — or ``finish`` when no step is left. A script
   step with target roles is not run by the worker: it gets a StepRun per matching target
   and the worker is free (``_dispatch_to_targets``). The targets' agents ``run_claim``
   a run (exactly once), ``run_report`` its lines and heartbeats and ``run_finish`` it;
   the last run to finish decides the step under the deployment's lock, as a worker's
   outcome would (``_close_step_if_done``). A manual step's helper script is run the same
   ways when its assignee asks (``helper_run``; ``helper_execute`` on the built-in
   runner), and its output is offered as the notes: it decides nothing.
3. ``assign`` and ``answer`` are a person taking and answering an interruption; an answer
   ``resume``s the deployment. ``cancel`` stops a deployment from any unfinished state.
4. ``deployments_sweep`` finds what should be moving and is not (a lost message, a worker
   killed mid-script, an agent gone silent, a run no agent claims) and repairs it.

A scheduled deployment (``queue_at``) is a condition in ``start``: it starts when due, not
during a freeze of its environment (unless a superuser deployed through freezes), and only
if its lifecycle still allows it (otherwise it fails with the reason). A quorum is counted
in ``answer`` before the step moves; a timeout is the sweep's ``time_out`` answering as the
system.

PostgreSQL holds the truth. Every change happens under the deployment's row lock inside a
transaction that also writes its task-log lines, audit event and, for what people and
integrations hear about (a step waits, is reminded or answered; a deployment ends), its
notification event (``notifications.outbox.record``); Celery messages are published after
commit. Running ``deployment_advance`` twice, or on two workers at once,
changes nothing the second time: only the holder of the row lock decides, a step changes
state only from the state it was read in, and a claimed step is not claimed again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from lifecycles import progression
from lifecycles.models import Environment, PhaseEnvironment
from notifications import outbox
from notifications.choices import EventKind
from processes.choices import RunCondition, StepKind
from processes.models import Project
from releases import permissions, selectors
from releases.choices import (
    ANSWER_STEP_STATES,
    BUILTIN_RUNNER,
    DEPLOYMENT_TERMINAL,
    DEPLOYMENT_TRANSITIONS,
    INTERRUPTION_ANSWERS,
    MAX_RETRIES_PER_STEP,
    RUN_TRANSITIONS,
    RUN_UNFINISHED,
    STEP_FAILURES,
    STEP_TRANSITIONS,
    DeploymentState,
    InterruptionResult,
    InterruptionType,
    LogLevel,
    RunState,
    StepState,
)
from releases.models import (
    HOLDS_SLOT,
    Approval,
    Deployment,
    DeploymentStep,
    Freeze,
    Interruption,
    Release,
    ReleaseStep,
    StepRun,
    TaskLogEntry,
)
from releases.runner import Job, LocalRunner, Outcome
from relman import crypto
from relman.exceptions import Conflict, InvalidInput
from relman.queue import enqueue_on_commit, publish
from relman.wake import notify_on_commit
from targets.models import Target
from teams.audit import audit_record
from teams.models import User, team_names
from variables import resolution
from variables import selectors as variable_selectors

logger = logging.getLogger(__name__)

# The Celery task that runs deployment_advance (releases.tasks binds to this name).
ADVANCE_TASK = "releases.tasks.deployment_advance_task"
WORKER_LOST = "Worker lost while running this step"
AGENT_LOST = "Agent lost while running this step"


class InvalidTransition(Conflict):
    code = "invalid_transition"


# --- 1. queueing -------------------------------------------------------------------------


def queue(
    *,
    release: Release,
    environment: Environment,
    actor: User | None,
    guided_failure: bool | None = None,
    queue_at: datetime | None = None,
    freeze_override_reason: str = "",
    frozen_by: list[Freeze] | None = None,
    source_ip: str | None = None,
) -> Deployment:
    """A new queued deployment of the release's snapshot, with a step per release step
    (those that do not apply to the environment skipped, with the reason); a worker starts
    it after commit, or once ``queue_at`` has come. The caller has checked that ``actor``
    may (None: the system), and that a superuser gave ``freeze_override_reason`` to deploy
    through freezes (``frozen_by``: those applying now)."""
    project = release.project
    deployment = Deployment.objects.create(
        release=release,
        project=project,
        environment=environment,
        created_by=actor,
        guided_failure=project.guided_failure if guided_failure is None else guided_failure,
        queue_at=queue_at,
        freeze_override_reason=freeze_override_reason,
        **({"queued_at": queue_at} if queue_at else {}),
    )
    by = actor.label if actor else "System (lifecycle automatic deployment)"
    decision = Decision(deployment)
    when = f", to start at {_iso(queue_at)}" if queue_at else ""
    decision.log(f"Queued by {by}: {project} {release.version} to {environment}{when}.")
    if freeze_override_reason:
        _log_freeze_override(decision, actor, freeze_override_reason, frozen_by or [], source_ip)
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
    decision.audit(
        "deployment.created",
        actor=actor,
        changes={
            "release": release.version,
            "guided_failure": deployment.guided_failure,
            **({"queue_at": _iso(queue_at)} if queue_at else {}),
        },
        source_ip=source_ip,
    )
    enqueue_advance(deployment.pk)
    return deployment


def _log_freeze_override(
    decision: Decision, actor: User | None, reason: str, frozen_by: list[Freeze], source_ip: str | None
) -> None:
    label = actor.label if actor else "System"
    through = f" {_freeze_names(frozen_by)}" if frozen_by else " any freeze"
    decision.log(
        f"OVERRIDE: {label} (superuser) deploys through{through}. Reason: {reason}", level=LogLevel.WARNING
    )
    decision.audit(
        "deployment.freeze_overridden",
        actor=actor,
        changes={"freezes": [f.name for f in frozen_by], "reason": reason},
        source_ip=source_ip,
    )


def _freeze_names(freezes: list[Freeze]) -> str:
    return ", ".join(f"the freeze {f.name} (until {_iso(f.end)})" for f in freezes)


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


def deploy_automatic(release: Release, *, decision: Decision | None = None) -> list[Deployment]:
    """Queues the release, as the system, to every automatic environment of its lifecycle
    that is open now and not yet reached (lifecycle rule 4). One the rules refuse now (a
    project disabled meanwhile) is not deployed; the deciding deployment's log says why."""
    project = release.project
    if not PhaseEnvironment.objects.filter(phase__lifecycle_id=project.lifecycle_id, automatic=True).exists():
        return []  # most lifecycles have none: no need to work out the whole progression
    progress = selectors.release_progress(release)
    queued = []
    for environment in progression.automatic_targets(progress):
        refusal = permissions.deploy_refusal(
            None, release, environment, progress
        ) or permissions.freeze_refusal(project.pk, environment.pk, timezone.now())
        if refusal is None:
            queued.append(queue(release=release, environment=environment, actor=None))
        elif decision is not None:
            decision.log(f"Not deployed automatically to {environment}: {refusal}", level=LogLevel.WARNING)
    return queued


# --- 2. the worker's loop ----------------------------------------------------------------


def deployment_advance(deployment_id: int) -> None:
    """Moves the deployment as far as it can go without a person.

    Guarantees: safe to call any number of times and on several workers at once; never
    runs a script step twice; stops at the first manual step, leaving the worker free.
    """
    related = Related(deployment_id)
    running: Running | None = None
    while True:
        running = _decide(deployment_id, running, related)
        if running is None:
            return
        running.outcome = _run_script(running.step, related)


@dataclass
class Running:
    """A script step this worker claimed and ran, and the deployment's unfinished steps as
    the claim left them."""

    step: DeploymentStep
    steps: list[DeploymentStep]
    outcome: Outcome | None = None


@transaction.atomic
def _decide(deployment_id: int, ran: Running | None = None, related: Related | None = None) -> Running | None:
    """Records the outcome of the script step this worker just ran, if any, then takes the
    next decision for the deployment; returns the script step it claimed."""
    deployment = _lock_raw(deployment_id)
    if deployment is None:
        return None
    decision = Decision(deployment, related)
    steps = None
    if ran is not None and _record_script_outcome(decision, ran.step, ran.outcome):
        # Steps change only under this lock, and nothing moves past a running step: while
        # the step was still ours, the steps are as our claim left them, so the decision
        # need not read them again. Recording one step and claiming the next is then the
        # lock, two UPDATEs and one INSERT.
        steps = ran.steps
    claimed = _next_step(decision, steps)
    decision.write()
    return claimed


def _lock_raw(deployment_id: int) -> Deployment | None:
    """The deployment's own row, locked until the transaction ends. Every worker decision
    starts here, so it is written as SQL: building the same query with the ORM costs three
    times what the database takes to answer it (bench/README.md). No joins: most decisions
    need nothing else, and the few that do read the rest once per task (``Related``)."""
    sql = f"SELECT * FROM {Deployment._meta.db_table} WHERE {Deployment._meta.pk.column} = %s"
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    return next(iter(Deployment.objects.raw(sql, [deployment_id])), None)


def _next_step(decision: Decision, steps: list[DeploymentStep] | None) -> Running | None:
    deployment = decision.deployment
    if deployment.state == DeploymentState.QUEUED and not start(decision):
        return None
    if deployment.state != DeploymentState.EXECUTING:
        return None

    if steps is None:
        steps = _unfinished_steps(deployment)
    if any(s.state in (StepState.RUNNING, StepState.WAITING) for s in steps):
        return None  # a worker is running it, or a person is needed
    failed = any(s.state in STEP_FAILURES for s in steps)
    for step in steps:
        if step.state != StepState.PENDING:
            continue
        release_step = step.release_step
        if not _run_condition_allows(release_step.run_condition, failed):
            reason = "an earlier step failed" if failed else "no earlier step failed"
            set_step_state(step, StepState.SKIPPED, skip_reason=f"Skipped because {reason}.")
            decision.log(f"{step.title} skipped because {reason}.", step=step, level=LogLevel.VERBOSE)
            continue
        manual = release_step.kind == StepKind.MANUAL
        # A script for targets is checked per target when dispatched: its values (and
        # #{Relman.Target}) depend on the target.
        refusal = (
            None
            if release_step.target_roles and not manual
            else decision.related.refusal(
                release_step.instructions if manual else release_step.script, script=not manual
            )
        )
        if refusal:
            _fail_before_running(decision, step, refusal)
            failed = True
            continue
        if release_step.kind == StepKind.MANUAL:
            _raise_manual_intervention(decision, step)
            return None
        if release_step.target_roles:
            _claim_script(decision, step, on_targets=True)
            if _dispatch_to_targets(decision, step):
                return None  # the targets' agents run it; run_finish decides on the last one
            return _next_step(decision, None)
        _claim_script(decision, step)
        return Running(step=step, steps=steps)
    finish(decision, failed=failed)
    return None


def _unfinished_steps(deployment: Deployment) -> list[DeploymentStep]:
    """The steps a decision looks at: pending, running, waiting, and the failed ones (which
    decide the run conditions of the rest). Succeeded and skipped steps change nothing."""
    return list(
        deployment.steps.select_related("release_step")
        .exclude(state__in=[StepState.SUCCESS, StepState.SKIPPED])
        .order_by("position")
    )


def _run_condition_allows(condition: str, failed: bool) -> bool:
    if condition == RunCondition.ALWAYS:
        return True
    return failed if condition == RunCondition.FAILURE else not failed


# --- starting: the (project, environment) slot ------------------------------------------


def start(decision: Decision) -> bool:
    """Queued → executing when the deployment is first in line and its slot is free; a
    scheduled one also waits until it is due and while a freeze applies."""
    deployment = decision.deployment
    if (
        deployment.queue_at is not None
        and deployment.started_at is None
        and not _scheduled_may_start(decision)
    ):
        return False
    # One lock per project serialises every slot decision for its environments.
    Project.objects.select_for_update().filter(pk=deployment.project_id).values_list("pk").first()
    ahead = Q(state=DeploymentState.QUEUED) & (
        Q(queued_at__lt=deployment.queued_at) | Q(queued_at=deployment.queued_at, pk__lt=deployment.pk)
    )
    if Deployment.objects.in_slot_of(deployment).filter(HOLDS_SLOT | ahead).exists():
        return False
    resumed = deployment.started_at is not None
    decision.transition(DeploymentState.EXECUTING, started_at=deployment.started_at or timezone.now())
    if not resumed:
        decision.related.attach(deployment)
        decision.log(
            f"Deploying {deployment.release.project} {deployment.release.version} to {deployment.environment}."
        )
    return True


def _scheduled_may_start(decision: Decision) -> bool:
    """Whether a scheduled deployment may start now: it is due, no freeze it did not
    override applies, and the lifecycle still allows it — otherwise it fails, with the
    lifecycle's reason."""
    deployment = decision.deployment
    now = timezone.now()
    if deployment.queue_at > now:
        return False
    if not deployment.freeze_override_reason and permissions.freeze_refusal(
        deployment.project_id, deployment.environment_id, now
    ):
        return False
    decision.related.attach(deployment)
    release = deployment.release
    refusal = permissions.deploy_refusal(
        None, release, deployment.environment, selectors.release_progress(release)
    )
    if refusal is None:
        return True
    reason = f"Not started: {refusal.message}"
    for step in deployment.steps.filter(state=StepState.PENDING):
        set_step_state(step, StepState.SKIPPED, skip_reason=reason[:300], finished_at=now)
    decision.transition(DeploymentState.FAILED, finished_at=now)
    decision.log(reason, level=LogLevel.ERROR)
    decision.audit(
        "deployment.failed",
        actor=None,
        changes={"state": [DeploymentState.QUEUED, DeploymentState.FAILED], "reason": refusal.message},
    )
    return False


def resume(decision: Decision, *, held_slot: bool) -> None:
    """A person answered the interruption the deployment waited on. One that held its slot
    while it waited executes again; one that let others run queues for its slot again, and
    executes at once if the slot is free and no one is ahead."""
    if held_slot:
        decision.transition(DeploymentState.EXECUTING)
        return
    decision.transition(DeploymentState.QUEUED)
    start(decision)


def _pass_slot_on(deployment: Deployment) -> None:
    """After commit, wakes the deployment first in line for this deployment's slot."""
    project_id, environment_id = deployment.project_id, deployment.environment_id

    def wake_next() -> None:
        next_pk = (
            Deployment.objects.filter(
                project_id=project_id, environment_id=environment_id, state=DeploymentState.QUEUED
            )
            .order_by("queued_at", "id")
            .values_list("pk", flat=True)
            .first()
        )
        if next_pk is not None:
            publish(ADVANCE_TASK, next_pk)

    transaction.on_commit(wake_next)


def enqueue_advance(deployment_id: int) -> None:
    enqueue_on_commit(ADVANCE_TASK, deployment_id)


# --- manual steps -----------------------------------------------------------------------


def _raise_manual_intervention(decision: Decision, step: DeploymentStep) -> None:
    deployment = decision.deployment
    release_step = step.release_step
    now = timezone.now()
    set_step_state(step, StepState.WAITING, started_at=now)
    teams = list(release_step.responsible_teams.all())
    minutes = release_step.timeout_minutes
    interruption = Interruption.objects.create(
        deployment=deployment,
        step=step,
        type=InterruptionType.MANUAL_INTERVENTION,
        title=release_step.name,
        instructions=decision.related.substitute(release_step.instructions, shown=True),
        blocks_deployments=release_step.block_deployments,
        prevent_self_approval=release_step.prevent_self_approval,
        remind_at=_next_reminder(release_step, now, sent=0),
        required_approvals=release_step.required_approvals,
        due_at=now + timedelta(minutes=minutes) if minutes else None,
    )
    if teams:
        # A new interruption has no teams yet: insert the links without reading them first.
        link = Interruption.responsible_teams.through
        link.objects.bulk_create(link(interruption=interruption, team=team) for team in teams)
    who = team_names(teams) or "a deployer"
    member = f"a member of {who}" if teams else who
    needed = release_step.required_approvals
    until = (
        f"{needed} members of {who} proceed or one aborts" if needed > 1 else f"{member} proceeds or aborts"
    )
    decision.log(
        f"== Waiting: {step.title} ==",
        f'Manual intervention "{release_step.name}" is waiting for {who}.',
        f"Deployment will pause until {until}, or the deployment is cancelled.",
        *(
            [f"If no one answers within {minutes} minutes, the system will {release_step.on_timeout}."]
            if minutes
            else []
        ),
        step=step,
    )
    decision.transition(DeploymentState.WAITING)
    decision.related.attach(deployment)
    outbox.record(EventKind.INTERRUPTION_RAISED, deployment, interruption=interruption, teams=teams)
    if not release_step.block_deployments:
        _pass_slot_on(deployment)


def _next_reminder(release_step: ReleaseStep, after: datetime, *, sent: int) -> datetime | None:
    """When the waiting step is next reminded: ``remind_after_minutes`` after ``after``,
    until RELMAN_REMINDER_LIMIT reminders were sent (None: no more)."""
    minutes = release_step.remind_after_minutes
    if not minutes or sent >= settings.RELMAN_REMINDER_LIMIT:
        return None
    return after + timedelta(minutes=minutes)


# --- script steps -----------------------------------------------------------------------


def _claim_script(decision: Decision, step: DeploymentStep, *, on_targets: bool = False) -> None:
    """Pending → running. A step run by agents has no worker heartbeat (its runs have
    their own), so the sweep's "worker lost" check leaves it alone."""
    now = timezone.now()
    heartbeat = None if on_targets else now
    set_step_state(
        step, StepState.RUNNING, started_at=now, heartbeat_at=heartbeat, attempts=step.attempts + 1
    )
    attempt = f" (attempt {step.attempts})" if step.attempts > 1 else ""
    decision.log(f"== Running: {step.title}{attempt} ==", step=step)


def _run_script(step: DeploymentStep, related: Related) -> Outcome:
    """Runs the claimed step's script outside any transaction; its lines go to the task log
    as they come, and it stops when the step is no longer wanted."""
    release_step = step.release_step
    job = Job(
        script=related.substitute(release_step.script),
        variables=related.script_variables(),
        timeout_seconds=release_step.timeout_seconds,
        label=str(step.deployment_id),
        project_variables=related.variable_environment(),
    )
    return LocalRunner().run(job, StepReporter(step, related.masker()))


class StepReporter:
    """A running script's side of the engine: its lines become task-log entries of the step,
    and its heartbeat keeps the sweep away while the step is still running in an executing
    deployment (a cancelled one says no, and the runner stops the script)."""

    def __init__(self, step: DeploymentStep, masker: resolution.Masker | None = None):
        self.step = step
        self.masker = masker or resolution.Masker(())

    def lines(self, lines: list[tuple[str, str]]) -> None:
        """Every sensitive value of the deployment becomes ``********`` before it is stored
        (``resolution.Masker`` says how lines of a multi-line value are caught)."""
        mask = self.masker.mask
        TaskLogEntry.objects.bulk_create(
            TaskLogEntry(
                deployment_id=self.step.deployment_id, step=self.step, level=level, message=mask(text)
            )
            for level, text in lines
        )

    def heartbeat(self) -> bool:
        return bool(
            DeploymentStep.objects.filter(
                pk=self.step.pk, state=StepState.RUNNING, deployment__state=DeploymentState.EXECUTING
            ).update(heartbeat_at=timezone.now())
        )


def _fail_before_running(decision: Decision, step: DeploymentStep, refusal: str) -> None:
    """A step whose variables cannot be filled in fails before anything runs: running it
    with a reference left in would do something nobody wrote."""
    set_step_state(step, StepState.FAILED, started_at=timezone.now(), finished_at=timezone.now())
    decision.log(
        f"{step.title} {refusal}",
        f"== Failed: {step.title} ==",
        step=step,
        level=LogLevel.ERROR,
    )


def _record_script_outcome(decision: Decision, step: DeploymentStep, outcome: Outcome) -> bool:
    """Under the deployment's lock: the step succeeded, failed, or was cancelled. Returns
    False when the step was no longer running (the sweep decided its fate meanwhile)."""
    if outcome.cancelled or decision.deployment.state == DeploymentState.CANCELLED:
        if set_step_state(step, StepState.FAILED, exit_code=outcome.exit_code, finished_at=timezone.now()):
            decision.log(f"== Cancelled: {step.title} ==", step=step, level=LogLevel.WARNING)
        return False
    if outcome.exit_code == 0:
        if not set_step_state(step, StepState.SUCCESS, exit_code=0, finished_at=timezone.now()):
            return False
        decision.log(f"== Success: {step.title} ==", step=step)
        return True
    if outcome.timed_out:
        reason = f"The script timed out after {step.release_step.timeout_seconds} seconds and was stopped."
    elif outcome.refusal:
        reason = outcome.refusal
    elif outcome.exit_code is None:
        reason = "The script could not be started."
    else:
        reason = f"The script exited with code {outcome.exit_code}."
    return _step_failed(decision, step, reason, exit_code=outcome.exit_code)


def _step_failed(
    decision: Decision, step: DeploymentStep, reason: str, *, exit_code: int | None = None
) -> bool:
    """A running script step failed: ask a person when guided failure is on (and retries
    remain), otherwise fail the step so the deployment runs its failure path. Returns False
    when the step was no longer running."""
    deployment = decision.deployment
    asks_a_person = deployment.state == DeploymentState.EXECUTING and deployment.guided_failure
    if asks_a_person and step.attempts <= MAX_RETRIES_PER_STEP:
        if not set_step_state(step, StepState.WAITING, exit_code=exit_code):
            return False
        interruption = Interruption.objects.create(
            deployment=deployment,
            step=step,
            type=InterruptionType.GUIDED_FAILURE,
            title=f"{step.name} failed",
            instructions=f"{reason}\n\nRetry the step, ignore the failure and continue, or fail it.",
            blocks_deployments=True,
        )
        teams = list(step.release_step.responsible_teams.all())
        interruption.responsible_teams.set(teams)
        decision.related.attach(deployment)
        outbox.record(EventKind.INTERRUPTION_RAISED, deployment, interruption=interruption, teams=teams)
        decision.log(reason, f"== Failed: {step.title} ==", step=step, level=LogLevel.ERROR)
        decision.log(
            "Guided failure is on: the deployment will pause until someone chooses retry, ignore or fail.",
            step=step,
            level=LogLevel.WARNING,
        )
        decision.transition(DeploymentState.WAITING)
        return True
    if not set_step_state(step, StepState.FAILED, exit_code=exit_code, finished_at=timezone.now()):
        return False
    decision.log(reason, f"== Failed: {step.title} ==", step=step, level=LogLevel.ERROR)
    return True


# --- script steps on targets ------------------------------------------------------------
#
# A step with target roles is not run by the worker: ``_dispatch_to_targets`` gives each
# matching target a StepRun and the worker is free. The targets' agents ``run_claim`` their
# runs (exactly once each), report lines and heartbeats (``run_report``) and ``run_finish``
# them; the last run to finish decides the step (``_close_step_if_done``), under the
# deployment's lock like every other step decision.


def target_channel(target_id: int) -> str:
    """The wake-up channel an idle agent of the target waits on (relman.wake)."""
    return f"relman_target_{target_id}"


def _dispatch_to_targets(decision: Decision, step: DeploymentStep) -> bool:
    """Gives the claimed step a run on every enabled target of the environment with one of
    its roles, or — on a guided-failure retry — runs again only the ones that did not
    succeed. Returns False when no target matches: the step has then failed, saying so."""
    deployment = decision.deployment
    now = timezone.now()
    again = list(step.runs.exclude(state=RunState.SUCCESS).values_list("pk", "target_id"))
    roles = step.release_step.target_roles
    targets = (
        list(Target.objects.filter(pk__in=[target_id for _, target_id in again]).order_by("name"))
        if again
        else _matching_targets(deployment.environment_id, roles)
    )
    for target in targets:
        refusal = decision.related.on(target).refusal(step.release_step.script, script=True)
        if refusal:
            _step_failed(decision, step, f"{step.title} on {target.name} {refusal}")
            return False
    if again:
        StepRun.objects.filter(pk__in=[pk for pk, _ in again]).update(**_runnable_again(step.attempts, now))
        target_ids = [target_id for _, target_id in again]
    else:
        if not targets:
            environment = Environment.objects.get(pk=deployment.environment_id)
            _step_failed(decision, step, f"No enabled target in {environment} has the role {_either(roles)}.")
            return False
        StepRun.objects.bulk_create(
            StepRun(step=step, target=target, attempt=step.attempts, queued_at=now) for target in targets
        )
        target_ids = [target.pk for target in targets]
        decision.log(f"Running on {', '.join(t.name for t in targets)}.", step=step)
    for target_id in target_ids:
        notify_on_commit(target_channel(target_id))
    return True


def _runnable_again(attempt: int, now: datetime) -> dict:
    """The fields that make a finished run pending again, as its ``attempt``."""
    return {
        "state": RunState.PENDING,
        "attempt": attempt,
        "exit_code": None,
        "queued_at": now,
        "started_at": None,
        "finished_at": None,
        "heartbeat_at": None,
        "output_lines": 0,
        "stop_requested": False,
    }


def _matching_targets(environment_id: int, roles: list[str]) -> list[Target]:
    candidates = Target.objects.filter(environments=environment_id, enabled=True).order_by("name")
    return [target for target in candidates if set(target.roles) & set(roles)]


def _either(roles: list[str]) -> str:
    return roles[0] if len(roles) == 1 else f"{', '.join(roles[:-1])} or {roles[-1]}"


def run_claim(target: Target) -> StepRun | None:
    """The oldest pending run of the target in an executing deployment, now running and
    held by the calling agent, or None. Exactly once: the claim is a conditional UPDATE
    from pending, so of two agents (or a repeated request) racing for a run, one wins and
    the other moves on to the next run or gets nothing."""
    pending = StepRun.objects.filter(WANTED_RUNS, target=target, state=RunState.PENDING).order_by("id")
    for run_id, attempt in pending.values_list("pk", "attempt")[:10]:
        now = timezone.now()
        claimed = StepRun.objects.filter(pk=run_id, state=RunState.PENDING, attempt=attempt).update(
            state=RunState.RUNNING, started_at=now, heartbeat_at=now
        )
        if claimed:
            run = StepRun.objects.select_related("step__release_step", "target").get(pk=run_id)
            what = "The helper script was started" if run.step.release_step.is_manual else "Started"
            TaskLogEntry.objects.create(
                deployment_id=run.step.deployment_id,
                step=run.step,
                message=f"[{target.name}] {what} by the agent on {target.hostname or target.name}.",
            )
            return run
    return None


def run_report(
    run: StepRun, lines: list[tuple[str, str]], *, masker: resolution.Masker | None = None
) -> bool:
    """The agent holding the run reports output lines (possibly none: a heartbeat). Lines
    go to the task log with the target's name. Returns whether the run is still wanted:
    False once its deployment was cancelled or the sweep gave it up, and the agent stops
    the script."""
    wanted = (
        StepRun.objects.filter(WANTED_RUNS, pk=run.pk, attempt=run.attempt, state=RunState.RUNNING)
        .order_by()
        .update(heartbeat_at=timezone.now())
    )
    if lines:
        mask = (masker or Related(run.step.deployment_id, target=run.target).masker()).mask
        prefix = _prefix(run)
        TaskLogEntry.objects.bulk_create(
            TaskLogEntry(
                deployment_id=run.step.deployment_id,
                step_id=run.step_id,
                level=level,
                message=mask(f"{prefix}{text}"),
            )
            for level, text in lines
        )
    return bool(wanted)


@transaction.atomic
def run_finish(
    run_id: int, attempt: int, outcome: Outcome, *, tail: list[tuple[str, str]] = (), omitted: int = 0
) -> bool:
    """The agent reports how its run ended, with the last lines of a long output (after a
    line counting the ``omitted`` ones). Recorded once: repeating the same report (an agent
    retrying until it hears back) changes nothing and returns True; a report about a run
    the sweep already decided, or an earlier attempt, returns False."""
    run = StepRun.objects.select_related("step__release_step", "target").get(pk=run_id)
    deployment = _lock_raw(run.step.deployment_id)
    run = (
        StepRun.objects.select_related("step__release_step", "target")
        .select_for_update(of=("self",))
        .get(pk=run_id)
    )
    if run.attempt != attempt or run.state != RunState.RUNNING:
        return run.attempt == attempt and run.state != RunState.PENDING and run.exit_code == outcome.exit_code
    decision = Decision(deployment)
    prefix = _prefix(run)
    if omitted:
        decision.log(
            f"{prefix}… {omitted:,} lines of output not kept: a run keeps its first"
            f" {settings.RELMAN_AGENT_OUTPUT_MAX_LINES - settings.RELMAN_AGENT_OUTPUT_TAIL_LINES:,}"
            f" and last {settings.RELMAN_AGENT_OUTPUT_TAIL_LINES:,} lines …",
            step=run.step,
            level=LogLevel.WARNING,
        )
    mask = decision.related.on(run.target).masker().mask if tail else None
    for level, text in tail:
        decision.log(mask(f"{prefix}{text}"), step=run.step, level=level)
    if outcome.cancelled:
        state, line = RunState.CANCELLED, "Stopped: it is no longer wanted."
    elif outcome.exit_code == 0:
        state, line = RunState.SUCCESS, "Exited with code 0."
    elif outcome.timed_out:
        state = RunState.FAILED
        line = f"Timed out after {run.step.release_step.timeout_seconds} seconds and was stopped."
    elif outcome.refusal:
        state, line = RunState.FAILED, outcome.refusal
    elif outcome.exit_code is None:
        state, line = RunState.FAILED, "The script could not be started."
    else:
        state, line = RunState.FAILED, f"Exited with code {outcome.exit_code}."
    _set_run_state(run, state, exit_code=outcome.exit_code)
    decision.log(
        f"{prefix}{line}",
        step=run.step,
        level=LogLevel.INFO if state == RunState.SUCCESS else LogLevel.ERROR,
    )
    _run_ended(decision, run.step)
    decision.write()
    return True


def _set_run_state(run: StepRun, state: str, **fields) -> bool:
    """Applies an allowed transition (``RUN_TRANSITIONS``), guarded like ``set_step_state``."""
    if state not in RUN_TRANSITIONS[run.state]:
        raise InvalidTransition(f"A run that is {run.state} cannot become {state}.")
    fields.setdefault("finished_at", timezone.now())
    if not StepRun.objects.filter(pk=run.pk, state=run.state, attempt=run.attempt).update(
        state=state, **fields
    ):
        return False
    run.state = state
    for name, value in fields.items():
        setattr(run, name, value)
    return True


def _prefix(run: StepRun) -> str:
    """What the run's task-log lines start with: the target's name (none on the built-in
    runner, whose lines are the only ones of their step)."""
    return f"[{run.target.name}] " if run.target_id else ""


def _run_ended(decision: Decision, step: DeploymentStep) -> None:
    """A run of the step ended: a script step may now be decided; a manual step's helper
    script may have finished."""
    if step.release_step.is_manual:
        _helper_finish_if_done(decision, step)
    else:
        _close_step_if_done(decision, step)


def _close_step_if_done(decision: Decision, step: DeploymentStep) -> None:
    """Under the deployment's lock, once no run of the running step is left unfinished:
    the step succeeds when every run did, fails (or asks a person) otherwise, and a worker
    takes the deployment on after commit."""
    step.refresh_from_db()
    runs = list(step.runs.select_related("target").order_by("target__name"))
    if step.state != StepState.RUNNING or any(r.state in RUN_UNFINISHED for r in runs):
        return
    now = timezone.now()
    failed = [r for r in runs if r.state != RunState.SUCCESS]
    exit_code = failed[0].exit_code if failed else 0
    if decision.deployment.state == DeploymentState.CANCELLED or any(
        r.state == RunState.CANCELLED for r in runs
    ):
        if set_step_state(step, StepState.FAILED, exit_code=exit_code, finished_at=now):
            decision.log(f"== Cancelled: {step.title} ==", step=step, level=LogLevel.WARNING)
        return
    if not failed:
        set_step_state(step, StepState.SUCCESS, exit_code=0, finished_at=now)
        decision.log(f"== Success: {step.title} ==", step=step)
    else:
        names = ", ".join(r.target.name for r in failed)
        _step_failed(
            decision,
            step,
            f"The script failed on {len(failed)} of {len(runs)} targets: {names}.",
            exit_code=exit_code,
        )
    enqueue_advance(decision.deployment.pk)


def _cancel_runs(deployment: Deployment, now: datetime) -> None:
    """A cancel stops the deployment's runs: pending ones at once; running ones when their
    agent hears it (``run_report`` says no longer wanted) and reports back."""
    StepRun.objects.filter(step__deployment=deployment, state=RunState.PENDING).update(
        state=RunState.CANCELLED, finished_at=now
    )


# --- helper scripts: a manual step's script, run when its assignee asks ----------------
#
# A manual step with a script is rung 2 of the automation ladder: the person it waits for
# may run the script (``helper_run``) where a script step would run it — on every enabled
# target of the environment with one of the step's roles, through their agents, or on the
# built-in runner by a worker (``helper_execute``) — with the deployment's variables. The
# runs are StepRuns of the waiting step; their lines go to the task log under it, and when
# the last one ends (``_helper_finish_if_done``) their output is offered as the notes. The
# person still proceeds or aborts: a helper script decides nothing. The person stopping it
# (``helper_stop``), answering the step or cancelling the deployment stops it.

# Runs someone still wants: a script step's while its deployment executes, a helper
# script's while its step waits for the person who ran it.
WANTED_RUNS = Q(step__deployment__state=DeploymentState.EXECUTING) | Q(
    step__state=StepState.WAITING, step__release_step__kind=StepKind.MANUAL, stop_requested=False
)
# The task that runs a helper script on the built-in runner (releases.tasks binds to it).
HELPER_TASK = "releases.tasks.helper_execute_task"
# How much of a helper script's output is offered as notes: the last lines that fit.
HELPER_NOTES_MAX_LINES = 200


def helper_run(
    deployment: Deployment, interruption: Interruption, actor: User, *, source_ip: str | None = None
) -> list[StepRun]:
    """The assignee runs the waiting step's helper script: a run on each matching target,
    or one on the built-in runner for a step without target roles; logged and audited.

    Refuses (409): a step without a helper script, one whose script is running already, a
    step whose roles no enabled target of the environment has; (400) a script referring to
    a variable without a value there, naming it.
    """
    step = interruption.step
    release_step = step.release_step
    if not release_step.script.strip():
        raise Conflict(
            f"{step.title} has no helper script to run; a project editor can add one to the step.",
            code="no_helper_script",
        )
    runs = {run.target_id: run for run in step.runs.select_related("target")}
    busy = [run.where for run in runs.values() if run.state in RUN_UNFINISHED]
    if busy:
        raise Conflict(
            f"The helper script of {step.title} is already running on {', '.join(busy)}; "
            "wait for it to finish.",
            code="helper_running",
        )
    decision = Decision(deployment)
    roles = release_step.target_roles
    targets: list[Target | None] = _matching_targets(deployment.environment_id, roles) if roles else [None]
    if not targets:
        raise Conflict(
            f"No enabled target in {deployment.environment} has the role {_either(roles)}: "
            "there is nowhere to run the helper script.",
            code="no_target",
        )
    for target in targets:
        related = decision.related.on(target) if target else decision.related
        refusal = related.refusal(release_step.script, script=True)
        if refusal:
            raise InvalidInput(f"The helper script {refusal}", code="helper_refused")
    now = timezone.now()
    attempt = step.attempts + 1
    DeploymentStep.objects.filter(pk=step.pk).update(attempts=attempt)
    step.attempts = attempt
    fresh = {**_runnable_again(attempt, now), "requested_by": actor}
    started = []
    for target in targets:
        run = runs.get(target.pk if target else None)
        if run is None:
            run = StepRun.objects.create(step=step, target=target, **fresh)
        else:
            if fresh["state"] not in RUN_TRANSITIONS[run.state]:
                raise InvalidTransition(f"A run that is {run.state} cannot become {fresh['state']}.")
            StepRun.objects.filter(pk=run.pk).update(**fresh)
        started.append(run)
    Interruption.objects.filter(pk=interruption.pk).update(helper_output="")
    where = ", ".join(t.name for t in targets if t) or BUILTIN_RUNNER
    decision.log(f"== Helper script: run by {actor.label} on {where} ==", step=step)
    decision.write()
    decision.audit(
        "interruption.helper_script_run",
        actor=actor,
        changes={"where": where, "attempt": attempt},
        subject=interruption,
        source_ip=source_ip,
    )
    for run, target in zip(started, targets, strict=True):
        if target is None:
            enqueue_on_commit(HELPER_TASK, run.pk, attempt)
        else:
            notify_on_commit(target_channel(target.pk))
    return started


def helper_stop(
    deployment: Deployment, interruption: Interruption, actor: User, *, source_ip: str | None = None
) -> None:
    """The person stops the step's running helper script: runs not started yet are
    cancelled at once, running ones stop when their runner next hears they are no longer
    wanted (``run_report``), and their output up to then is offered as the notes.

    Refuses (409): nothing running.
    """
    step = interruption.step
    unfinished = step.runs.filter(state__in=RUN_UNFINISHED, attempt=step.attempts)
    if not unfinished.exists():
        raise Conflict(f"The helper script of {step.title} is not running.", code="helper_not_running")
    now = timezone.now()
    unfinished.filter(state=RunState.RUNNING).update(stop_requested=True)
    unfinished.filter(state=RunState.PENDING).update(state=RunState.CANCELLED, finished_at=now)
    decision = Decision(deployment)
    decision.log(f"Helper script stopped by {actor.label}.", step=step, level=LogLevel.WARNING)
    _helper_finish_if_done(decision, step)
    decision.write()
    decision.audit(
        "interruption.helper_script_stopped",
        actor=actor,
        changes={"attempt": step.attempts},
        subject=interruption,
        source_ip=source_ip,
    )


def helper_execute(run_id: int, attempt: int) -> bool:
    """A worker runs a helper script on the built-in runner: claims the run (once: a
    conditional UPDATE from pending, so a repeated message does nothing), runs the script
    outside any transaction as a script step would be run, and records how it ended.
    Returns whether it ran it."""
    now = timezone.now()
    if not StepRun.objects.filter(
        WANTED_RUNS, pk=run_id, attempt=attempt, state=RunState.PENDING, target__isnull=True
    ).update(state=RunState.RUNNING, started_at=now, heartbeat_at=now):
        return False
    run = StepRun.objects.select_related("step__release_step").get(pk=run_id)
    related = Related(run.step.deployment_id)
    release_step = run.step.release_step
    job = Job(
        script=related.substitute(release_step.script),
        variables=related.script_variables(),
        timeout_seconds=release_step.timeout_seconds,
        label=str(run.step.deployment_id),
        project_variables=related.variable_environment(),
    )
    outcome = LocalRunner().run(job, RunReporter(run, related.masker()))
    run_finish(run_id, attempt, outcome)
    return True


class RunReporter:
    """A helper script on the built-in runner reports as an agent would: its lines and
    heartbeats go through ``run_report``, which says when it is no longer wanted."""

    def __init__(self, run: StepRun, masker: resolution.Masker):
        self.run = run
        self.masker = masker

    def lines(self, lines: list[tuple[str, str]]) -> None:
        run_report(self.run, lines, masker=self.masker)

    def heartbeat(self) -> bool:
        return run_report(self.run, [])


def _helper_finish_if_done(decision: Decision, step: DeploymentStep) -> None:
    """Under the deployment's lock, once no run of the latest request is unfinished: says
    how the helper script ended and offers its output (the step's task-log lines since the
    request, masked as they were logged) as the notes of the step's open interruption."""
    runs = list(step.runs.select_related("target").filter(attempt=step.attempts).order_by("target__name"))
    if any(run.state in RUN_UNFINISHED for run in runs):
        return
    interruption = Interruption.objects.filter(step=step, pending=True).first()
    if interruption is None:
        return  # answered or cancelled meanwhile: nobody is offered the output
    decision.write()  # the run's last lines are part of the output
    since = min(run.queued_at for run in runs)
    lines = list(
        TaskLogEntry.objects.filter(step=step, timestamp__gte=since)
        .order_by("-id")
        .values_list("message", flat=True)[:HELPER_NOTES_MAX_LINES]
    )
    output = "\n".join(reversed(lines))[-settings.RELMAN_NOTES_MAX_LENGTH :]
    Interruption.objects.filter(pk=interruption.pk).update(helper_output=output)
    failed = [run.where for run in runs if run.state != RunState.SUCCESS]
    if any(run.state == RunState.CANCELLED for run in runs):
        summary = "== Helper script stopped =="
    elif failed:
        summary = f"== Helper script failed on {', '.join(failed)} =="
    else:
        summary = "== Helper script succeeded =="
    decision.log(
        summary,
        "Its output is offered as the notes; the person still proceeds or aborts.",
        step=step,
        level=LogLevel.WARNING if failed else LogLevel.INFO,
    )


# --- finishing --------------------------------------------------------------------------


def finish(decision: Decision, *, failed: bool) -> None:
    """Executing → success or failed once no step is left; the slot passes to the next in
    line and, on success, the lifecycle's automatic environments are deployed."""
    deployment = decision.deployment
    decision.related.attach(deployment)
    state = DeploymentState.FAILED if failed else DeploymentState.SUCCESS
    decision.transition(state, finished_at=timezone.now())
    decision.audit(
        f"deployment.{state}",
        actor=None,
        changes={"state": [DeploymentState.EXECUTING, state]},
    )
    outbox.record(EventKind.DEPLOYMENT_FAILED if failed else EventKind.DEPLOYMENT_SUCCEEDED, deployment)
    if failed:
        decision.log(f"Deployment to {deployment.environment} failed.", level=LogLevel.ERROR)
    else:
        decision.log(f"Deployment to {deployment.environment} succeeded.")
    # Written now, so that the automatic deployments below see this one's success.
    decision.write()
    _pass_slot_on(deployment)
    if not failed:
        deploy_automatic(deployment.release, decision=decision)
        decision.write()


# --- 3. people: interruptions and cancelling ---------------------------------------------
#
# The caller holds the row locks: the deployment's first, then the interruption's (the
# order the worker's decisions and cancel take them in, so no two of these deadlock).


def lock(deployment_id: int) -> Deployment:
    """The deployment, locked until the transaction ends. The joined rows only give names
    to the log and the audit trail; the deployment's own row is the one read after the lock."""
    return (
        Deployment.objects.select_for_update(of=("self",))
        .select_related("project", "release", "environment")
        .get(pk=deployment_id)
    )


def lock_interruption(interruption_id: int) -> Interruption:
    """The interruption, locked. No select_related: after waiting for the lock, PostgreSQL
    returns the locked row's new version but joined rows as they were, so a joined
    assignee would be stale."""
    return Interruption.objects.select_for_update().get(pk=interruption_id)


def check_open(interruption: Interruption) -> None:
    """Refuses (409) an interruption that was already answered, or closed by a cancel."""
    if interruption.pending:
        return
    if interruption.submitted_at:
        by = interruption.submitted_by.label if interruption.submitted_by_id else "the system (timeout)"
        raise Conflict(
            f"{interruption.title} was already submitted by {by} at {_iso(interruption.submitted_at)}.",
            code="already_submitted",
        )
    raise Conflict(f"{interruption.title} is closed: the deployment was cancelled.", code="already_closed")


def check_answer(interruption: Interruption, *, result: str, guidance: str) -> str:
    """The answer (``result`` for a manual intervention, ``guidance`` for a guided failure);
    refuses (400) one the interruption's type does not take, or both at once."""
    if interruption.type == InterruptionType.MANUAL_INTERVENTION:
        if guidance or result not in INTERRUPTION_ANSWERS[interruption.type]:
            raise InvalidInput(
                'A manual intervention is answered with result "proceed" or "abort".', code="invalid_result"
            )
        return result
    if result or guidance not in INTERRUPTION_ANSWERS[interruption.type]:
        raise InvalidInput(
            'A guided failure is answered with guidance "retry", "ignore" or "fail".', code="invalid_guidance"
        )
    return guidance


def assign(
    deployment: Deployment,
    interruption: Interruption,
    actor: User,
    *,
    previous: User | None,
    override_reason: str = "",
    source_ip: str | None = None,
) -> None:
    """The interruption is now ``actor``'s (taken, taken over, or by a superuser's override
    with a reason), logged and audited."""
    interruption.assignee = actor
    interruption.taken_at = timezone.now()
    interruption.save(update_fields=["assignee", "taken_at"])
    decision = Decision(deployment)
    if override_reason:
        decision.log(
            f"OVERRIDE: {actor.label} (superuser, not in the responsible teams) took responsibility"
            f" for {interruption.title}. Reason: {override_reason}",
            step=interruption.step,
            level=LogLevel.WARNING,
        )
    elif previous is not None:
        decision.log(
            f"{actor.label} took over {interruption.title} from {previous.label}.",
            step=interruption.step,
            level=LogLevel.WARNING,
        )
    else:
        decision.log(f"{interruption.title} assigned to {actor.label}.", step=interruption.step)
    decision.write()
    decision.audit(
        "interruption.overridden" if override_reason else "interruption.taken",
        actor=actor,
        changes={
            "assignee": [previous.username if previous else None, actor.username],
            **({"reason": override_reason} if override_reason else {}),
        },
        subject=interruption,
        source_ip=source_ip,
    )


_ANSWER_LINES = {
    StepState.SUCCESS: ("== Success: {title} ==", LogLevel.INFO),
    StepState.ABORTED: ("== Aborted: {title} ==", LogLevel.ERROR),
    StepState.PENDING: ("Retrying {title}.", LogLevel.WARNING),
    StepState.SKIPPED: ("== Ignored failure: {title} ==", LogLevel.WARNING),
    StepState.FAILED: ("== Failed: {title} ==", LogLevel.ERROR),
}


def answer(
    deployment: Deployment,
    interruption: Interruption,
    actor: User,
    *,
    choice: str,
    notes: str = "",
    source_ip: str | None = None,
) -> None:
    """A person answers an open interruption (``check_open``, ``check_answer``). A quorum's
    answer is recorded (one per person); while it still lacks proceeds it is only logged
    ("Approved by: … (2 of 3)") and audited. Otherwise the interruption closes: its step
    moves as ``ANSWER_STEP_STATES`` says, the deployment resumes, and a worker takes it on
    after commit. Logged ("Submitted by: Sarah (DBA Team) at …") and audited."""
    step = interruption.step
    who = _who(actor, interruption)
    now = timezone.now()
    # A single approver's answer is the interruption's own (submitted_by, result, notes);
    # a quorum's are counted from rows of their own.
    if interruption.is_quorum:
        Approval.objects.create(interruption=interruption, user=actor, result=choice, notes=notes, at=now)
        if choice == InterruptionResult.PROCEED:
            given = interruption.approvals.filter(result=InterruptionResult.PROCEED).count()
            if given < interruption.required_approvals:
                decision = Decision(deployment)
                decision.log(
                    f"Approved by: {who} at {_iso(now)} ({given} of {interruption.required_approvals})",
                    *([f"Notes: {notes}"] if notes else []),
                    step=step,
                )
                decision.write()
                decision.audit(
                    "interruption.approved",
                    actor=actor,
                    changes={"result": choice, "notes": notes, "approvals": given},
                    subject=interruption,
                    source_ip=source_ip,
                )
                return
    _close(
        deployment,
        interruption,
        actor,
        choice=choice,
        notes=notes,
        at=now,
        lines=[
            f"Submitted by: {who} at {_iso(now)}",
            f"Result: {choice.capitalize()}",
            *([f"Notes: {notes}"] if notes else []),
        ],
    )
    Decision(deployment).audit(
        "interruption.submitted",
        actor=actor,
        changes={"result": interruption.result, "guidance": interruption.guidance, "notes": notes},
        subject=interruption,
        source_ip=source_ip,
    )


def time_out(deployment: Deployment, interruption: Interruption) -> None:
    """No one answered the manual intervention before its due time: the system answers
    with the step's ``on_timeout``, recorded with no user, logged and audited."""
    release_step = interruption.step.release_step
    choice, minutes = release_step.on_timeout, release_step.timeout_minutes
    now = timezone.now()
    outcome = "proceeded" if choice == InterruptionResult.PROCEED else "aborted"
    sentence = f"No one answered within {minutes} minutes: {outcome}."
    Approval.objects.create(interruption=interruption, user=None, result=choice, notes=sentence, at=now)
    _close(deployment, interruption, None, choice=choice, notes=sentence, at=now, lines=[sentence])
    Decision(deployment).audit(
        "interruption.timed_out",
        actor=None,
        changes={"result": choice, "timeout_minutes": minutes},
        subject=interruption,
    )


def _close(
    deployment: Deployment,
    interruption: Interruption,
    actor: User | None,
    *,
    choice: str,
    notes: str,
    at: datetime,
    lines: list[str],
) -> None:
    """Closes the interruption with this answer: the step moves, the deployment resumes
    and is advanced after commit."""
    step = interruption.step
    decision = Decision(deployment)
    resume(decision, held_slot=interruption.blocks_deployments)
    is_result = interruption.type == InterruptionType.MANUAL_INTERVENTION
    interruption.pending = False
    interruption.result = choice if is_result else ""
    interruption.guidance = "" if is_result else choice
    interruption.notes = notes
    interruption.submitted_by = actor
    interruption.submitted_at = at
    interruption.save(
        update_fields=["pending", "result", "guidance", "notes", "submitted_by", "submitted_at"]
    )

    if step.attempts:
        # A helper script not yet started is no longer wanted; a running one stops at its
        # next heartbeat (run_report).
        StepRun.objects.filter(step=step, state=RunState.PENDING).update(
            state=RunState.CANCELLED, finished_at=at
        )
    state = ANSWER_STEP_STATES[choice]
    fields = {"finished_at": at} if state != StepState.PENDING else {}
    if state == StepState.SKIPPED:
        fields["skip_reason"] = "Failure ignored by choice."
    set_step_state(step, state, **fields)
    line, level = _ANSWER_LINES[state]
    decision.log(line.format(title=step.title), step=step, level=level)
    if choice == InterruptionResult.PROCEED:
        decision.log(f"{step.name} completed", "Resuming after completion", step=step, level=LogLevel.VERBOSE)
    decision.log(*lines, step=step)
    decision.write()
    enqueue_advance(deployment.pk)
    outbox.record(EventKind.INTERRUPTION_ANSWERED, deployment, interruption=interruption, actor=actor)


def _who(actor: User, interruption: Interruption) -> str:
    """``Sarah (DBA Team)``: the submitter and the responsible teams they belong to."""
    mine = list(
        interruption.responsible_teams.filter(members=actor).order_by("name").values_list("name", flat=True)
    )
    return f"{actor.label} ({', '.join(mine)})" if mine else actor.label


def cancel(deployment: Deployment, actor: User, *, source_ip: str | None = None) -> None:
    """Cancels a queued, executing or waiting deployment at once; a running script is
    stopped by its runner within a heartbeat. Pending interruptions are closed and pending
    steps skipped. Cancelling a cancelled deployment changes nothing; one that already
    succeeded or failed is refused (409)."""
    if deployment.state == DeploymentState.CANCELLED:
        return
    if deployment.state in DEPLOYMENT_TERMINAL:
        raise Conflict(
            f"This deployment already finished ({deployment.get_state_display().lower()});"
            " there is nothing to cancel.",
            code="already_finished",
        )
    was = deployment.state
    now = timezone.now()
    reason = f"Cancelled by {actor.label}."
    deployment.interruptions.filter(pending=True).update(pending=False, notes=reason)
    for step in deployment.steps.filter(state__in=[StepState.PENDING, StepState.WAITING]):
        set_step_state(step, StepState.SKIPPED, skip_reason=reason, finished_at=now)
    decision = Decision(deployment)
    decision.transition(DeploymentState.CANCELLED, finished_at=now)
    _cancel_runs(deployment, now)
    for step in deployment.steps.filter(state=StepState.RUNNING, heartbeat_at__isnull=True):
        _close_step_if_done(decision, step)
    decision.log(f"Deployment cancelled by {actor.label} at {_iso(now)}.", level=LogLevel.WARNING)
    decision.write()
    decision.audit(
        "deployment.cancelled",
        actor=actor,
        changes={"state": [was, DeploymentState.CANCELLED]},
        source_ip=source_ip,
    )
    outbox.record(EventKind.DEPLOYMENT_CANCELLED, deployment, actor=actor)
    if was != DeploymentState.QUEUED:
        _pass_slot_on(deployment)


# --- 4. the sweep -----------------------------------------------------------------------


def deployments_sweep() -> dict[str, int]:
    """Repairs what should be moving and is not; returns what it did, for the log.

    - A running script whose heartbeat is older than RELMAN_STUCK_AFTER_SECONDS lost its
      worker: the step fails with "Worker lost while running this step" (never re-run
      silently; with guided failure on, a person decides whether to retry).
    - A queued or executing deployment that has not changed state for that long, and is
      not running a script whose heartbeat is fresh, is advanced again (its message was
      lost, or the broker restarted).
    - A step that has waited past its reminder time is reminded (``interruptions_remind``).
    - Manual interventions past their due time are answered by the system (``time_out``).
    - Scheduled deployments that are due are advanced, so they start within a sweep
      interval (``start`` decides whether a freeze or the slot holds them back).
    """
    stale = timezone.now() - timedelta(seconds=settings.RELMAN_STUCK_AFTER_SECONDS)
    lost = 0
    for step_id in DeploymentStep.objects.filter(state=StepState.RUNNING, heartbeat_at__lt=stale).values_list(
        "pk", flat=True
    ):
        lost += _fail_lost_script(step_id, stale)
    readvanced = 0
    # A step run by agents has no worker heartbeat: its runs are swept below.
    running = DeploymentStep.objects.filter(deployment=OuterRef("pk"), state=StepState.RUNNING).filter(
        Q(heartbeat_at__gte=stale) | Q(heartbeat_at__isnull=True)
    )
    for deployment_id in (
        Deployment.objects.filter(
            state__in=[DeploymentState.QUEUED, DeploymentState.EXECUTING], updated_at__lt=stale
        )
        .exclude(Exists(running))
        .values_list("pk", flat=True)
    ):
        with transaction.atomic():
            enqueue_advance(deployment_id)
        readvanced += 1
    interruptions_remind()
    return {
        "worker_lost": lost,
        "readvanced": readvanced,
        "agent_lost": runs_sweep_lost(),
        "target_offline": runs_sweep_unclaimed(),
        "timed_out": interruptions_time_out(),
        "scheduled_due": deployments_start_due(),
    }


def interruptions_remind() -> int:
    """Reminds the people who may take each step that has waited past its reminder time
    (``Interruption.remind_at``), and sets the next one; returns how many were reminded."""
    due = Interruption.objects.filter(pending=True, remind_at__lte=timezone.now()).values_list(
        "pk", "deployment_id"
    )
    reminded = sum(_remind(interruption_id, deployment_id) for interruption_id, deployment_id in due)
    if reminded:
        logger.info("Reminded %d waiting steps.", reminded)
    return reminded


@transaction.atomic
def _remind(interruption_id: int, deployment_id: int) -> int:
    deployment = lock(deployment_id)
    interruption = lock_interruption(interruption_id)
    now = timezone.now()
    if not interruption.pending or interruption.remind_at is None or interruption.remind_at > now:
        return 0  # answered, cancelled or reminded meanwhile
    interruption.reminders_sent += 1
    release_step = interruption.step.release_step
    interruption.remind_at = _next_reminder(release_step, now, sent=interruption.reminders_sent)
    interruption.save(update_fields=["reminders_sent", "remind_at"])
    outbox.record(EventKind.INTERRUPTION_REMINDER, deployment, interruption=interruption)
    return 1


def interruptions_time_out() -> int:
    """Answers, as the system, every open manual intervention past its due time."""
    now = timezone.now()
    answered = 0
    for interruption_id, deployment_id in Interruption.objects.filter(
        pending=True, due_at__lte=now
    ).values_list("pk", "deployment_id"):
        answered += _time_out_one(interruption_id, deployment_id, now)
    return answered


@transaction.atomic
def _time_out_one(interruption_id: int, deployment_id: int, now: datetime) -> int:
    deployment = lock(deployment_id)
    interruption = lock_interruption(interruption_id)
    if not interruption.pending or interruption.due_at is None or interruption.due_at > now:
        return 0  # answered (or cancelled) meanwhile
    interruption.step = DeploymentStep.objects.select_related("release_step").get(pk=interruption.step_id)
    time_out(deployment, interruption)
    return 1


def deployments_start_due() -> int:
    """Asks a worker to start every scheduled deployment that is due and not started. One
    that a freeze holds (and that no superuser sent through freezes) is left for the sweep
    after the freeze ends, rather than sent to be refused again at every sweep."""
    now = timezone.now()
    held = Freeze.objects.filter(environments=OuterRef("environment_id"), start__lte=now, end__gt=now).filter(
        Q(projects__isnull=True) | Q(projects=OuterRef("project_id"))
    )
    due = list(
        Deployment.objects.filter(state=DeploymentState.QUEUED, queue_at__lte=now, started_at__isnull=True)
        .exclude(Q(freeze_override_reason="") & Exists(held))
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        for deployment_id in due:
            enqueue_advance(deployment_id)
    return len(due)


@transaction.atomic
def _fail_lost_script(step_id: int, stale: datetime) -> int:
    step = DeploymentStep.objects.select_related("release_step").get(pk=step_id)
    deployment = Deployment.objects.select_for_update().get(pk=step.deployment_id)
    step.refresh_from_db()
    if step.state != StepState.RUNNING or (step.heartbeat_at and step.heartbeat_at >= stale):
        return 0
    decision = Decision(deployment)
    _step_failed(decision, step, WORKER_LOST)
    decision.write()
    enqueue_advance(deployment.pk)
    return 1


def runs_sweep_lost() -> int:
    """Fails every run whose agent stopped reporting for RELMAN_AGENT_LOST_AFTER_SECONDS
    with "Agent lost while running this step": never run again silently (with guided
    failure on, a person decides whether to retry). Returns how many."""
    stale = timezone.now() - timedelta(seconds=settings.RELMAN_AGENT_LOST_AFTER_SECONDS)
    lost = StepRun.objects.filter(state=RunState.RUNNING, heartbeat_at__lt=stale)
    return sum(
        _fail_run(run_id, RunState.RUNNING, AGENT_LOST if target_id else WORKER_LOST, stale=stale)
        for run_id, target_id in lost.values_list("pk", "target_id")
    )


def runs_sweep_unclaimed() -> int:
    """Fails every run that no agent claimed within its step's timeout, naming the target
    and saying it is offline. Returns how many."""
    now = timezone.now()
    waiting = StepRun.objects.filter(WANTED_RUNS, state=RunState.PENDING).values_list(
        "pk", "queued_at", "step__release_step__timeout_seconds", "target__name"
    )
    return sum(
        _fail_run(
            run_id,
            RunState.PENDING,
            f"{name} is offline: no agent claimed this step within {timeout} seconds."
            if name
            else f"No worker started the helper script within {timeout} seconds; run it again.",
        )
        for run_id, queued_at, timeout, name in waiting
        if now - queued_at > timedelta(seconds=timeout)
    )


@transaction.atomic
def _fail_run(run_id: int, state: str, reason: str, *, stale: datetime | None = None) -> int:
    """Under the deployment's lock: the run, still in ``state`` (and, for a lost agent,
    still without a heartbeat since ``stale``), fails for ``reason``."""
    run = StepRun.objects.select_related("step__release_step", "target").get(pk=run_id)
    deployment = _lock_raw(run.step.deployment_id)
    run.refresh_from_db(fields=["state", "attempt", "heartbeat_at"])
    if run.state != state or (stale and run.heartbeat_at and run.heartbeat_at >= stale):
        return 0
    if not _set_run_state(run, RunState.FAILED):
        return 0
    decision = Decision(deployment)
    decision.log(f"{_prefix(run)}{reason}", step=run.step, level=LogLevel.ERROR)
    _run_ended(decision, run.step)
    decision.write()
    return 1


# --- what every verb writes with ----------------------------------------------------------


class Related:
    """A deployment's release (with its project) and environment, read once per task into
    every decision that needs them: the first log line, the scripts' variables, the final
    audit event and the lifecycle's automatic deployments; and the release's variables as
    they apply in the deployment's environment (substituted, passed to scripts, masked)."""

    def __init__(self, deployment_id: int, *, target: Target | None = None):
        self.deployment_id = deployment_id
        self.target = target
        self._loaded: Deployment | None = None
        self._variables: dict[str, resolution.Entry] | None = None

    def on(self, target: Target) -> Related:
        """The same deployment as a script run on ``target`` sees it: values scoped to the
        target and its roles apply, and ``#{Relman.Target}`` is its name."""
        related = Related(self.deployment_id, target=target)
        related._loaded = self._loaded
        return related

    def _load(self) -> Deployment:
        if self._loaded is None:
            self._loaded = Deployment.objects.select_related("release__project", "environment").get(
                pk=self.deployment_id
            )
        return self._loaded

    def attach(self, deployment: Deployment) -> None:
        loaded = self._load()
        deployment.release = loaded.release
        deployment.project = loaded.release.project
        deployment.environment = loaded.environment

    def _resolved(self) -> dict[str, resolution.Entry]:
        """The release's variables as they apply in the deployment's environment and, for a
        run on a target, to that target and its roles; decrypted once per task."""
        if self._variables is None:
            loaded = self._load()
            entries = variable_selectors.release_entries(loaded.release_id)
            target = self.target
            context = resolution.Context(
                environment=loaded.environment.slug,
                roles=frozenset(target.roles) if target else frozenset(),
                target=target.slug if target else None,
            )
            self._variables = resolution.resolve(entries, context)
        return self._variables

    def _values(self, *, shown: bool) -> dict[str, str]:
        loaded = self._load()
        resolved = self._resolved()
        return {
            **(resolution.shown(resolved) if shown else {n: e.value for n, e in resolved.items()}),
            **resolution.builtins(
                project=loaded.release.project.name,
                version=loaded.release.version,
                environment=loaded.environment.name,
                deployment_id=self.deployment_id,
                target=self.target.name if self.target else None,
            ),
        }

    def refusal(self, text: str, *, script: bool) -> str | None:
        """Why ``text`` cannot have its variables filled in here, or None. A script gets
        every value, so they are decrypted here, under the deployment's lock: a wrong key
        fails the step before it is claimed. Text without references needs none."""
        if not script and "#{" not in text:
            return None
        try:
            values = self._values(shown=True)
        except crypto.UnreadableValue as error:
            return f"cannot run: {error}"
        missing = resolution.undefined(text, values) if "#{" in text else []
        if not missing:
            return None
        names = ", ".join(f"#{{{name}}}" for name in missing)
        return (
            f"refers to {names}, which has no value in {self._load().environment.name}; "
            "define it for that environment or remove the reference."
        )

    def substitute(self, text: str, *, shown: bool = False) -> str:
        """``text`` with its ``#{Name}`` references replaced; ``shown`` for text people read,
        where sensitive values are ``********``."""
        return resolution.substitute(text, self._values(shown=shown)) if "#{" in text else text

    def variable_environment(self) -> dict[str, str]:
        return resolution.script_environment(self._resolved())

    def masker(self) -> resolution.Masker:
        return resolution.Masker(e.value for e in self._resolved().values() if e.sensitive)

    def script_variables(self) -> dict[str, str]:
        """The ``RELMAN_*`` variables every script step of the deployment gets."""
        loaded = self._load()
        return {
            "RELMAN_PROJECT": loaded.release.project.name,
            "RELMAN_RELEASE_VERSION": loaded.release.version,
            "RELMAN_ENVIRONMENT": loaded.environment.name,
            "RELMAN_DEPLOYMENT_ID": str(self.deployment_id),
        }


class Decision:
    """What one verb does to a deployment its caller holds locked.

    Transitions change the deployment in memory and task-log lines are collected; ``write``
    saves them together before the transaction commits: one UPDATE and one INSERT, however
    many transitions and lines the decision took (queued → executing → waiting, say).
    """

    def __init__(self, deployment: Deployment, related: Related | None = None):
        self.deployment = deployment
        self.related = related or Related(deployment.pk)
        self._fields: set[str] = set()
        self._lines: list[TaskLogEntry] = []

    def transition(self, state: str, **fields) -> None:
        """Applies an allowed transition (``DEPLOYMENT_TRANSITIONS``)."""
        deployment = self.deployment
        if state not in DEPLOYMENT_TRANSITIONS[deployment.state]:
            raise InvalidTransition(
                f"A deployment that is {deployment.get_state_display().lower()} cannot become {state}."
            )
        deployment.state = state
        for name, value in fields.items():
            setattr(deployment, name, value)
        self._fields.update(["state", *fields])

    def log(self, *messages: str, step: DeploymentStep | None = None, level: str = LogLevel.INFO) -> None:
        self._lines.extend(
            TaskLogEntry(deployment=self.deployment, step=step, level=level, message=message)
            for message in messages
        )

    def audit(
        self,
        action: str,
        *,
        actor: User | None,
        changes: dict,
        subject: Deployment | Interruption | None = None,
        source_ip: str | None = None,
    ) -> None:
        """Records the audit event of this change (about the deployment unless ``subject``
        says otherwise), in the caller's transaction."""
        deployment = self.deployment
        audit_record(
            actor=actor,
            action=action,
            subject=subject or deployment,
            project=deployment.project,
            environment=deployment.environment,
            changes=changes,
            source_ip=source_ip,
        )

    def write(self) -> None:
        if self._fields:
            self.deployment.updated_at = timezone.now()
            self.deployment.save(update_fields=self._fields | {"updated_at"})
        if self._lines:
            TaskLogEntry.objects.bulk_create(self._lines)
        self._fields, self._lines = set(), []


def set_step_state(step: DeploymentStep, state: str, **fields) -> bool:
    """Applies an allowed transition (``STEP_TRANSITIONS``), guarded: only if the step is
    still in the state it was read in. Returns whether it was (under its deployment's lock
    it always is)."""
    if state not in STEP_TRANSITIONS[step.state]:
        raise InvalidTransition(f"{step.title} is {step.state} and cannot become {state}.")
    if not DeploymentStep.objects.filter(pk=step.pk, state=step.state).update(state=state, **fields):
        return False
    step.state = state
    for name, value in fields.items():
        setattr(step, name, value)
    return True


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
