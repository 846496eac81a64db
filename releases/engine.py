"""The deployment engine: how a deployment moves from queued to finished.

Read top to bottom:

1. ``deployment_advance`` is the only entry point workers call. It loops: take the next
   decision under the deployment's row lock (``_decide``), and, when the decision is to
   run a script, run it outside any transaction (``_run_script``); the next decision
   first records its outcome (``_record_script_outcome``).
2. ``_decide`` starts a queued deployment when its (project, environment) slot is free,
   skips steps whose run condition or environment rules them out, raises an interruption
   for a manual step (the deployment then waits for a person and the worker is free), or
   claims a script step. When no step is left, the deployment finishes, the slot passes to
   the next queued deployment, and the lifecycle's automatic environments are deployed.
   A ``Decision`` collects what it changes and writes it once, before commit.
3. ``deployments_sweep`` finds what should be moving and is not (a lost message, a worker
   killed mid-script) and repairs it.

PostgreSQL holds the truth. Every state change happens under a row lock inside a
transaction that also writes its task-log lines; messages are published after commit.
Running ``deployment_advance`` twice, or on two workers at once, changes nothing the second
time: only the holder of the row lock decides, a step changes state only from the state
it was read in, and a claimed step is not claimed again.
"""

from __future__ import annotations

import logging
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from processes.choices import RunCondition, StepKind
from processes.models import Project
from releases.choices import (
    DEPLOYMENT_TRANSITIONS,
    MAX_RETRIES_PER_STEP,
    STEP_FAILURES,
    STEP_TRANSITIONS,
    DeploymentState,
    InterruptionType,
    LogLevel,
    StepState,
)
from releases.models import Deployment, DeploymentStep, Interruption, TaskLogEntry
from relman.exceptions import Conflict
from relman.queue import enqueue_on_commit, publish
from teams.permissions import team_names
from teams.services import audit_record

logger = logging.getLogger(__name__)

WORKER_LOST = "Worker lost while running this step"


class InvalidTransition(Conflict):
    code = "invalid_transition"


# --- the loop ---------------------------------------------------------------------------


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
        running.outcome = _run_script(running.step, related.script_variables())


@dataclass
class Running:
    """A script step this worker claimed and ran, and the deployment's unfinished steps as
    the claim left them."""

    step: DeploymentStep
    steps: list[DeploymentStep]
    outcome: ScriptOutcome | None = None


@transaction.atomic
def _decide(deployment_id: int, ran: Running | None = None, related: Related | None = None) -> Running | None:
    """Records the outcome of the script step this worker just ran, if any, then takes the
    next decision for the deployment; returns the script step it claimed."""
    deployment = _lock(deployment_id)
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


def _lock(deployment_id: int) -> Deployment | None:
    """The deployment's own row, locked until the transaction ends. Every decision starts
    here, so it is written as SQL: building the same query with the ORM costs three times
    what the database takes to answer it (bench/README.md). No joins: most decisions need
    nothing else, and the few that do read the rest once per task (``Related``)."""
    sql = f"SELECT * FROM {Deployment._meta.db_table} WHERE {Deployment._meta.pk.column} = %s"
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    return next(iter(Deployment.objects.raw(sql, [deployment_id])), None)


def _next_step(decision: Decision, steps: list[DeploymentStep] | None) -> Running | None:
    deployment = decision.deployment
    if deployment.state == DeploymentState.QUEUED and not _start(decision):
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
        if release_step.kind == StepKind.MANUAL:
            _raise_manual_intervention(decision, step)
            return None
        _claim_script(decision, step)
        return Running(step=step, steps=steps)
    _finish(decision, failed=failed)
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


def _start(decision: Decision) -> bool:
    """Queued → executing when the deployment is first in line and its slot is free."""
    deployment = decision.deployment
    # One lock per project serialises every slot decision for its environments.
    Project.objects.select_for_update().filter(pk=deployment.project_id).values_list("pk").first()
    ahead = Q(state=DeploymentState.QUEUED) & (
        Q(queued_at__lt=deployment.queued_at) | Q(queued_at=deployment.queued_at, pk__lt=deployment.pk)
    )
    if _others_in_slot(deployment).filter(_HOLDS_SLOT | ahead).exists():
        return False
    resumed = deployment.started_at is not None
    decision.transition(DeploymentState.EXECUTING, started_at=deployment.started_at or timezone.now())
    if not resumed:
        decision.related.attach(deployment)
        decision.log(
            f"Deploying {deployment.release.project} {deployment.release.version} to {deployment.environment}."
        )
    return True


# A deployment holds its slot while it executes, or while it waits on an interruption that
# blocks deployments.
_HOLDS_SLOT = Q(state=DeploymentState.EXECUTING) | Q(
    state=DeploymentState.WAITING, interruptions__pending=True, interruptions__blocks_deployments=True
)


def resume(decision: Decision, *, held_slot: bool) -> None:
    """A person answered the interruption the deployment waited on. One that held its slot
    while it waited executes again; one that let others run queues for its slot again, and
    executes at once if the slot is free and no one is ahead."""
    if held_slot:
        decision.transition(DeploymentState.EXECUTING)
        return
    decision.transition(DeploymentState.QUEUED)
    _start(decision)


def _others_in_slot(deployment: Deployment):
    return Deployment.objects.filter(
        project_id=deployment.project_id, environment_id=deployment.environment_id
    ).exclude(pk=deployment.pk)


def slot_holder(deployment: Deployment) -> Deployment | None:
    """The other deployment holding this deployment's (project, environment) slot."""
    return _others_in_slot(deployment).filter(_HOLDS_SLOT).select_related("release").first()


def pass_slot_on(deployment: Deployment) -> None:
    """After commit, wakes the deployment first in line for this deployment's slot."""
    from releases.tasks import deployment_advance_task

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
            publish(deployment_advance_task, next_pk)

    transaction.on_commit(wake_next)


def enqueue_advance(deployment_id: int) -> None:
    from releases.tasks import deployment_advance_task

    enqueue_on_commit(deployment_advance_task, deployment_id)


# --- manual steps -----------------------------------------------------------------------


def _raise_manual_intervention(decision: Decision, step: DeploymentStep) -> None:
    deployment = decision.deployment
    release_step = step.release_step
    set_step_state(step, StepState.WAITING, started_at=timezone.now())
    teams = list(release_step.responsible_teams.all())
    interruption = Interruption.objects.create(
        deployment=deployment,
        step=step,
        type=InterruptionType.MANUAL_INTERVENTION,
        title=release_step.name,
        instructions=release_step.instructions,
        blocks_deployments=release_step.block_deployments,
        prevent_self_approval=release_step.prevent_self_approval,
    )
    if teams:
        # A new interruption has no teams yet: insert the links without reading them first.
        link = Interruption.responsible_teams.through
        link.objects.bulk_create(link(interruption=interruption, team=team) for team in teams)
    who = team_names(teams) or "a deployer"
    member = f"a member of {who}" if teams else who
    decision.log(
        f"== Waiting: {step.title} ==",
        f'Manual intervention "{release_step.name}" is waiting for {who}.',
        f"Deployment will pause until {member} proceeds or aborts, or the deployment is cancelled.",
        step=step,
    )
    decision.transition(DeploymentState.WAITING)
    if not release_step.block_deployments:
        pass_slot_on(deployment)


# --- script steps -----------------------------------------------------------------------


@dataclass
class ScriptOutcome:
    exit_code: int | None
    timed_out: bool = False
    cancelled: bool = False


def _claim_script(decision: Decision, step: DeploymentStep) -> None:
    now = timezone.now()
    set_step_state(step, StepState.RUNNING, started_at=now, heartbeat_at=now, attempts=step.attempts + 1)
    attempt = f" (attempt {step.attempts})" if step.attempts > 1 else ""
    decision.log(f"== Running: {step.title}{attempt} ==", step=step)


def _run_script(step: DeploymentStep, variables: dict[str, str]) -> ScriptOutcome:
    """Runs the step's script as a subprocess, streaming its output into the task log line
    by line, touching the heartbeat, and stopping it on timeout or cancellation."""
    release_step = step.release_step
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        **variables,
    }
    with tempfile.TemporaryDirectory(prefix=f"relman-{step.deployment_id}-") as workdir:
        env["HOME"] = workdir
        script_path = os.path.join(workdir, "step.sh")
        with open(script_path, "w") as fh:
            fh.write(release_step.script)
        try:
            process = subprocess.Popen(
                _script_command(script_path),
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # so a timeout or cancel stops the whole tree
            )
        except OSError as exc:
            log(step.deployment, f"Could not start the script: {exc}", step=step, level=LogLevel.ERROR)
            return ScriptOutcome(exit_code=None)
        return _supervise(process, step, release_step.timeout_seconds)


def _script_command(script_path: str) -> list[str]:
    """The shell running the script, under ``setpriv --pdeathsig KILL`` where util-linux
    has it: if the worker is killed, the script is killed too, so the sweep's "worker lost"
    verdict is true and no orphan keeps changing the target. (A ``preexec_fn`` would do the
    same but makes every spawn from a large worker process ten times slower.)"""
    command = [settings.RELMAN_SCRIPT_SHELL, script_path]
    return [_SETPRIV, "--pdeathsig", "KILL", *command] if _SETPRIV else command


_SETPRIV = shutil.which("setpriv")


def _supervise(process: subprocess.Popen, step: DeploymentStep, timeout: int) -> ScriptOutcome:
    """Reads the script's stdout (info) and stderr (error) as they come, writing lines to
    the task log in small batches so the page shows them live; stops the script when its
    timeout passes or its deployment no longer wants it (cancelled)."""
    output = _Output(step)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, LogLevel.INFO)
    selector.register(process.stderr, selectors.EVENT_READ, LogLevel.ERROR)
    deadline = time.monotonic() + timeout
    heartbeat_every = settings.RELMAN_SCRIPT_HEARTBEAT_SECONDS
    next_heartbeat = time.monotonic() + heartbeat_every
    outcome: ScriptOutcome | None = None
    while selector.get_map():
        for key, _ in selector.select(timeout=_LOG_FLUSH_SECONDS):
            chunk = os.read(key.fd, 65536)
            if chunk:
                output.add(key.fileobj, key.data, chunk)
            else:
                output.close(key.fileobj, key.data)
                selector.unregister(key.fileobj)
        output.write_if_due()
        now = time.monotonic()
        if outcome is None and now >= deadline:
            outcome = ScriptOutcome(exit_code=None, timed_out=True)
            _stop(process)
        if now >= next_heartbeat:
            next_heartbeat = now + heartbeat_every
            still_wanted = DeploymentStep.objects.filter(
                pk=step.pk, state=StepState.RUNNING, deployment__state=DeploymentState.EXECUTING
            ).update(heartbeat_at=timezone.now())
            if not still_wanted and outcome is None:
                outcome = ScriptOutcome(exit_code=None, cancelled=True)
                _stop(process)
    selector.close()
    output.write()
    exit_code = process.wait()
    if outcome is not None:
        outcome.exit_code = exit_code
        return outcome
    return ScriptOutcome(exit_code=exit_code)


_LOG_FLUSH_SECONDS = 0.2
_LONGEST_LINE = 64 * 1024


class _Output:
    """A script's output, cut into task-log lines: a line is written at most
    _LOG_FLUSH_SECONDS after it was printed, or with the next 50."""

    def __init__(self, step: DeploymentStep):
        self.step = step
        self.partial: dict[object, bytes] = {}
        self.batch: list[TaskLogEntry] = []
        self.since = 0.0

    def add(self, stream, level: str, chunk: bytes) -> None:
        *lines, rest = (self.partial.get(stream, b"") + chunk).split(b"\n")
        while len(rest) > _LONGEST_LINE:  # a line that never ends is written in pieces
            lines.append(rest[:_LONGEST_LINE])
            rest = rest[_LONGEST_LINE:]
        self.partial[stream] = rest
        for line in lines:
            for start in range(0, max(len(line), 1), _LONGEST_LINE):
                self._line(level, line[start : start + _LONGEST_LINE])

    def close(self, stream, level: str) -> None:
        rest = self.partial.pop(stream, b"")
        if rest:
            self._line(level, rest)

    def _line(self, level: str, raw: bytes) -> None:
        if not self.batch:
            self.since = time.monotonic()
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        self.batch.append(
            TaskLogEntry(deployment_id=self.step.deployment_id, step=self.step, level=level, message=text)
        )

    def write_if_due(self) -> None:
        if len(self.batch) >= 50 or (self.batch and time.monotonic() - self.since >= _LOG_FLUSH_SECONDS):
            self.write()

    def write(self) -> None:
        if self.batch:
            TaskLogEntry.objects.bulk_create(self.batch)
            self.batch = []


def _stop(process: subprocess.Popen, grace_seconds: float = 5.0) -> None:
    """Terminate the script's process group, then kill it if it does not exit."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace_seconds)
            return
        except subprocess.TimeoutExpired:
            continue


def _record_script_outcome(decision: Decision, step: DeploymentStep, outcome: ScriptOutcome) -> bool:
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
    elif outcome.exit_code is None:
        reason = "The script could not be started."
    else:
        reason = f"The script exited with code {outcome.exit_code}."
    return step_failed(decision, step, reason, exit_code=outcome.exit_code)


def step_failed(
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
        interruption.responsible_teams.set(step.release_step.responsible_teams.all())
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


# --- finishing --------------------------------------------------------------------------


def _finish(decision: Decision, *, failed: bool) -> None:
    deployment = decision.deployment
    decision.related.attach(deployment)
    state = DeploymentState.FAILED if failed else DeploymentState.SUCCESS
    decision.transition(state, finished_at=timezone.now())
    audit_record(
        actor=None,
        action=f"deployment.{state}",
        subject=deployment,
        project=deployment.project,
        environment=deployment.environment,
        changes={"state": [DeploymentState.EXECUTING, state]},
    )
    if failed:
        decision.log(f"Deployment to {deployment.environment} failed.", level=LogLevel.ERROR)
    else:
        decision.log(f"Deployment to {deployment.environment} succeeded.")
    # Written now, so that the automatic deployments below see this one's success.
    decision.write()
    pass_slot_on(deployment)
    if not failed:
        from releases.services import release_deploy_automatic

        release_deploy_automatic(release=deployment.release)


# --- the sweep --------------------------------------------------------------------------


def deployments_sweep() -> dict[str, int]:
    """Repairs what should be moving and is not; returns what it did, for the log.

    - A running script whose heartbeat is older than RELMAN_STUCK_AFTER_SECONDS lost its
      worker: the step fails with "Worker lost while running this step" (never re-run
      silently; with guided failure on, a person decides whether to retry).
    - A queued or executing deployment that has not changed state for that long, and is
      not running a script whose heartbeat is fresh, is advanced again (its message was
      lost, or the broker restarted).
    """
    stale = timezone.now() - timedelta(seconds=settings.RELMAN_STUCK_AFTER_SECONDS)
    lost = 0
    for step_id in DeploymentStep.objects.filter(state=StepState.RUNNING, heartbeat_at__lt=stale).values_list(
        "pk", flat=True
    ):
        lost += _fail_lost_script(step_id, stale)
    readvanced = 0
    running = DeploymentStep.objects.filter(
        deployment=OuterRef("pk"), state=StepState.RUNNING, heartbeat_at__gte=stale
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
    return {"worker_lost": lost, "readvanced": readvanced}


@transaction.atomic
def _fail_lost_script(step_id: int, stale) -> int:
    step = DeploymentStep.objects.select_related("release_step").get(pk=step_id)
    deployment = Deployment.objects.select_for_update().get(pk=step.deployment_id)
    step.refresh_from_db()
    if step.state != StepState.RUNNING or (step.heartbeat_at and step.heartbeat_at >= stale):
        return 0
    decision = Decision(deployment)
    step_failed(decision, step, WORKER_LOST)
    decision.write()
    enqueue_advance(deployment.pk)
    return 1


# --- shared helpers ---------------------------------------------------------------------


class Related:
    """A deployment's release (with its project) and environment, read once per task into
    every decision that needs them: the first log line, the scripts' variables, the final
    audit event and the lifecycle's automatic deployments."""

    def __init__(self, deployment_id: int):
        self.deployment_id = deployment_id
        self._loaded: Deployment | None = None

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
    """What one decision does to a deployment its caller holds locked.

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
        """Applies an allowed transition."""
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

    def write(self) -> None:
        if self._fields:
            self.deployment.updated_at = timezone.now()
            self.deployment.save(update_fields=self._fields | {"updated_at"})
        if self._lines:
            TaskLogEntry.objects.bulk_create(self._lines)
        self._fields, self._lines = set(), []


def set_step_state(step: DeploymentStep, state: str, **fields) -> bool:
    """Applies an allowed transition, guarded: only if the step is still in the state it
    was read in. Returns whether it was (under its deployment's lock it always is)."""
    if state not in STEP_TRANSITIONS[step.state]:
        raise InvalidTransition(f"{step.title} is {step.state} and cannot become {state}.")
    if not DeploymentStep.objects.filter(pk=step.pk, state=step.state).update(state=state, **fields):
        return False
    step.state = state
    for name, value in fields.items():
        setattr(step, name, value)
    return True


def log(
    deployment: Deployment, *messages: str, step: DeploymentStep | None = None, level: str = LogLevel.INFO
) -> None:
    """Appends lines to the task log now, for a change that takes no decision (taking an
    interruption, a script that could not start)."""
    decision = Decision(deployment)
    decision.log(*messages, step=step, level=level)
    decision.write()
