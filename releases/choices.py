"""States of deployments, their steps and interruptions: the allowed transitions as data,
named groups, and the colours and icons the UI shows."""

from django.db import models


class DeploymentState(models.TextChoices):
    QUEUED = "queued", "Queued"
    EXECUTING = "executing", "Executing"
    WAITING = "waiting", "Waiting for a person"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


DEPLOYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    # A scheduled deployment the lifecycle no longer allows when it comes due fails.
    DeploymentState.QUEUED: frozenset(
        {DeploymentState.EXECUTING, DeploymentState.CANCELLED, DeploymentState.FAILED}
    ),
    DeploymentState.EXECUTING: frozenset(
        {
            DeploymentState.WAITING,
            DeploymentState.SUCCESS,
            DeploymentState.FAILED,
            DeploymentState.CANCELLED,
        }
    ),
    # A deployment that let others run while it waited re-queues for its slot on resume.
    DeploymentState.WAITING: frozenset(
        {DeploymentState.EXECUTING, DeploymentState.QUEUED, DeploymentState.CANCELLED}
    ),
    DeploymentState.SUCCESS: frozenset(),
    DeploymentState.FAILED: frozenset(),
    DeploymentState.CANCELLED: frozenset(),
}
DEPLOYMENT_ACTIVE = frozenset({DeploymentState.QUEUED, DeploymentState.EXECUTING, DeploymentState.WAITING})
DEPLOYMENT_TERMINAL = frozenset({DeploymentState.SUCCESS, DeploymentState.FAILED, DeploymentState.CANCELLED})


class StepState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting for a person"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    ABORTED = "aborted", "Aborted"


STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    StepState.PENDING: frozenset({StepState.RUNNING, StepState.WAITING, StepState.SKIPPED, StepState.FAILED}),
    StepState.RUNNING: frozenset({StepState.SUCCESS, StepState.FAILED, StepState.WAITING}),
    StepState.WAITING: frozenset(
        {
            StepState.SUCCESS,
            StepState.ABORTED,
            StepState.PENDING,  # guided failure: retry
            StepState.SKIPPED,  # guided failure: ignore
            StepState.FAILED,
        }
    ),
    StepState.SUCCESS: frozenset(),
    StepState.FAILED: frozenset(),
    StepState.SKIPPED: frozenset(),
    StepState.ABORTED: frozenset(),
}
STEP_FAILURES = frozenset({StepState.FAILED, StepState.ABORTED})
STEP_FINISHED = frozenset({StepState.SUCCESS, StepState.FAILED, StepState.SKIPPED, StepState.ABORTED})


class RunState(models.TextChoices):
    """A script step's run on one target (a StepRun)."""

    PENDING = "pending", "Waiting for the agent"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    # Claimed by the target's agent (or a worker, on the built-in runner); failed by the
    # sweep when nobody claims it in time.
    RunState.PENDING: frozenset({RunState.RUNNING, RunState.FAILED, RunState.CANCELLED}),
    # Finished by whoever runs it; failed by the sweep when the agent or worker is lost.
    RunState.RUNNING: frozenset({RunState.SUCCESS, RunState.FAILED, RunState.CANCELLED}),
    # A helper script is run again at each request of the assignee, whatever came before.
    RunState.SUCCESS: frozenset({RunState.PENDING}),
    RunState.FAILED: frozenset({RunState.PENDING}),  # also guided failure: retry the failed runs
    RunState.CANCELLED: frozenset({RunState.PENDING}),
}
RUN_UNFINISHED = frozenset({RunState.PENDING, RunState.RUNNING})
# Where a run without a target runs: a worker of Relman's own (releases.runner.LocalRunner).
BUILTIN_RUNNER = "Relman's built-in runner"


class InterruptionType(models.TextChoices):
    MANUAL_INTERVENTION = "manual_intervention", "Manual intervention"
    GUIDED_FAILURE = "guided_failure", "Guided failure"


class InterruptionResult(models.TextChoices):
    PROCEED = "proceed", "Proceed"
    ABORT = "abort", "Abort"


class Guidance(models.TextChoices):
    RETRY = "retry", "Retry"
    IGNORE = "ignore", "Ignore"
    FAIL = "fail", "Fail"


# The answers each kind of interruption takes, and the state each answer gives its step.
INTERRUPTION_ANSWERS: dict[str, frozenset[str]] = {
    InterruptionType.MANUAL_INTERVENTION: frozenset(InterruptionResult.values),
    InterruptionType.GUIDED_FAILURE: frozenset(Guidance.values),
}
ANSWER_STEP_STATES: dict[str, str] = {
    InterruptionResult.PROCEED: StepState.SUCCESS,
    InterruptionResult.ABORT: StepState.ABORTED,
    Guidance.RETRY: StepState.PENDING,
    Guidance.IGNORE: StepState.SKIPPED,
    Guidance.FAIL: StepState.FAILED,
}


class LogLevel(models.TextChoices):
    VERBOSE = "verbose", "Verbose"
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


MAX_RETRIES_PER_STEP = 10

# Badge colour and icon per state, shared by every page that shows a state.
STATE_BADGES: dict[str, tuple[str, str]] = {
    "queued": ("grey", "◔"),
    "pending": ("grey", "·"),
    "executing": ("blue", "▶"),
    "running": ("blue", "▶"),
    "waiting": ("orange", "👁"),
    "success": ("green", "✔"),
    "failed": ("red", "✖"),
    "aborted": ("red", "✖"),
    "cancelled": ("grey", "⊘"),
    "skipped": ("grey", "↷"),
}
