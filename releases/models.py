from datetime import datetime

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from processes.models import (
    StepFields,
    step_environments,
    step_excluded_environments,
    step_responsible_teams,
)
from releases.choices import (
    BUILTIN_RUNNER,
    DeploymentState,
    Guidance,
    InterruptionResult,
    InterruptionType,
    LogLevel,
    RunState,
    StepState,
)
from releases.versions import version_sort_key
from teams.scoping import ScopedQuerySet


class ReleaseQuerySet(ScopedQuerySet):
    environment_field = None


class DeploymentQuerySet(ScopedQuerySet):
    def in_slot_of(self, deployment: "Deployment") -> "DeploymentQuerySet":
        """The other deployments of the deployment's (project, environment) slot."""
        return self.filter(
            project_id=deployment.project_id, environment_id=deployment.environment_id
        ).exclude(pk=deployment.pk)

    def holding_slot(self) -> "DeploymentQuerySet":
        return self.filter(HOLDS_SLOT)


# A deployment holds its (project, environment) slot while it executes, or while it waits on
# an interruption that blocks deployments; one waiting on any other lets the next in line run.
HOLDS_SLOT = models.Q(state=DeploymentState.EXECUTING) | models.Q(
    state=DeploymentState.WAITING, interruptions__pending=True, interruptions__blocks_deployments=True
)


class InterruptionQuerySet(ScopedQuerySet):
    project_field = "deployment__project"
    environment_field = "deployment__environment"


class Release(models.Model):
    project = models.ForeignKey("processes.Project", on_delete=models.PROTECT, related_name="releases")
    version = models.CharField(max_length=100)
    notes = models.TextField(blank=True, help_text="Markdown.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Semantic versions rank by semver precedence, others by creation time (releases.versions).
    sort_key = models.CharField(max_length=200, editable=False, default="")

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["-sort_key", "-id"]
        indexes = [models.Index(fields=["project", "-sort_key"], name="release_latest_by_version")]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="release_version_unique_in_project"),
        ]

    def __str__(self) -> str:
        return f"{self.project} {self.version}"

    def save(self, *args, **kwargs):
        if not self.sort_key:
            self.sort_key = version_sort_key(self.version, self.created_at)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("releases:release_detail", args=[self.pk])

    @property
    def subject(self) -> str:
        """How the lifecycle's rules name it: "Release 1.0.0 of Manual Deployment"."""
        return f"Release {self.version} of {self.project}"


class ReleaseStep(StepFields):
    """A step of the process as it was when the release was created."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="steps")
    environments = step_environments("ReleaseStepEnvironment")
    excluded_environments = step_excluded_environments("ReleaseStepExcludedEnvironment")
    responsible_teams = step_responsible_teams("ReleaseStepResponsibleTeam")

    class Meta:
        ordering = ["release", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["release", "position"], name="release_step_position_unique"),
        ]


class ReleaseStepLink(models.Model):
    """A row linking a release step to something it uses, in the table Django made for
    the plain many-to-many field (its column names, hence ``db_column``; its unique pair,
    hence ``unique_together``)."""

    release_step = models.ForeignKey(
        ReleaseStep, on_delete=models.CASCADE, db_column="releasestep_id", related_name="+"
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        release = self.release_step.release
        return f"step {self.release_step.name} of release {release.version} of {release.project}"


class ReleaseStepEnvironment(ReleaseStepLink):
    environment = models.ForeignKey("lifecycles.Environment", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "releases_releasestep_environments"
        unique_together = [("release_step", "environment")]


class ReleaseStepExcludedEnvironment(ReleaseStepLink):
    environment = models.ForeignKey("lifecycles.Environment", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "releases_releasestep_excluded_environments"
        unique_together = [("release_step", "environment")]


class ReleaseStepResponsibleTeam(ReleaseStepLink):
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "releases_releasestep_responsible_teams"
        unique_together = [("release_step", "team")]


class Deployment(models.Model):
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="deployments")
    # Copied from the release so the one-active-per-slot rule is a database constraint and
    # the dashboard reads the latest deployment per (project, environment) from one index.
    project = models.ForeignKey("processes.Project", on_delete=models.PROTECT, related_name="+")
    environment = models.ForeignKey(
        "lifecycles.Environment", on_delete=models.PROTECT, related_name="deployments"
    )
    state = models.CharField(max_length=16, choices=DeploymentState.choices, default=DeploymentState.QUEUED)
    guided_failure = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty when the system deployed automatically.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last time this deployment changed state; the sweep re-advances the ones that should
    # be moving, have not changed for longer than RELMAN_STUCK_AFTER_SECONDS and are not
    # running a script (whose step has a heartbeat of its own).
    updated_at = models.DateTimeField(default=timezone.now)
    # A scheduled deployment stays queued until then (its queued_at is the same moment, so
    # it takes its place in the slot's line when it comes due); null: start now.
    queue_at = models.DateTimeField(null=True, blank=True)
    # Why a superuser deployed through a freeze; a scheduled one then does not wait for it.
    freeze_override_reason = models.TextField(blank=True)

    objects = DeploymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "environment"],
                condition=models.Q(state=DeploymentState.EXECUTING),
                name="one_executing_deployment_per_project_environment",
            ),
        ]
        indexes = [
            # latest deployment per (project, environment): dashboard, queue order
            models.Index(fields=["project", "environment", "-id"], name="deployment_slot_latest"),
            # the sweep's scan of deployments that should be moving
            models.Index(fields=["state", "updated_at"], name="deployment_state_updated"),
        ]

    def __str__(self) -> str:
        return f"Deployment of {self.release} to {self.environment}"

    def get_absolute_url(self) -> str:
        return reverse("releases:deployment_detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.state in {DeploymentState.SUCCESS, DeploymentState.FAILED, DeploymentState.CANCELLED}


class DeploymentStep(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="steps")
    release_step = models.ForeignKey(ReleaseStep, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=StepState.choices, default=StepState.PENDING)
    skip_reason = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # A worker running this step's script touches this; a stale one means the worker died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deployment", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "position"], name="deployment_step_position_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Step {self.position}: {self.release_step.name}"

    @property
    def name(self) -> str:
        return self.release_step.name

    @property
    def kind(self) -> str:
        return self.release_step.kind

    @property
    def title(self) -> str:
        return f"Step {self.position}: {self.release_step.name}"

    @property
    def duration(self):
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class StepRun(models.Model):
    """A script's run on one target, done by the target's agent, or on Relman's built-in
    runner (no target). A script step with target roles has one per matching target, and a
    guided-failure retry runs the failed ones again. A manual step's runs are its helper
    script's, run when its assignee asks (``requested_by``) and again at each new request.
    ``attempt`` counts, and an agent's reports name the attempt they are about."""

    step = models.ForeignKey(DeploymentStep, on_delete=models.CASCADE, related_name="runs")
    target = models.ForeignKey(
        "targets.Target", null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.PENDING)
    attempt = models.PositiveIntegerField(default=1)
    exit_code = models.IntegerField(null=True, blank=True)
    # When it became runnable: nobody claiming it within the step's timeout means offline.
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched by every report of the agent holding it; a stale one means the agent is lost.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Output lines the agent sent; past RELMAN_AGENT_OUTPUT_MAX_LINES they are counted only.
    output_lines = models.PositiveIntegerField(default=0)
    # A helper script someone stopped: its runner hears it is no longer wanted.
    stop_requested = models.BooleanField(default=False)

    class Meta:
        ordering = ["step", "target__name"]
        constraints = [
            models.UniqueConstraint(fields=["step", "target"], name="step_run_one_per_target"),
            models.UniqueConstraint(
                fields=["step"], condition=models.Q(target__isnull=True), name="step_run_one_builtin"
            ),
        ]
        indexes = [
            # an agent's claim: the pending runs of its target, oldest first
            models.Index(fields=["target", "state", "id"], name="step_run_claim"),
            # the sweep: running runs by heartbeat, pending ones by age
            models.Index(fields=["state", "heartbeat_at"], name="step_run_sweep"),
        ]

    def __str__(self) -> str:
        return f"{self.step} on {self.where}"

    @property
    def where(self) -> str:
        return self.target.name if self.target_id else BUILTIN_RUNNER


class Interruption(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="interruptions")
    step = models.ForeignKey(DeploymentStep, on_delete=models.CASCADE, related_name="interruptions")
    type = models.CharField(max_length=32, choices=InterruptionType.choices)
    title = models.CharField(max_length=300)
    instructions = models.TextField(blank=True)
    responsible_teams = models.ManyToManyField(
        "teams.Team", through="InterruptionResponsibleTeam", blank=True, related_name="+"
    )
    blocks_deployments = models.BooleanField(default=False)
    prevent_self_approval = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    pending = models.BooleanField(default=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    taken_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=16, choices=InterruptionResult.choices, blank=True)
    guidance = models.CharField(max_length=16, choices=Guidance.choices, blank=True)
    notes = models.TextField(blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    # When the sweep next reminds the people who may take it (empty: no reminder due).
    remind_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.PositiveIntegerField(default=0)
    # Distinct proceeds that complete a manual intervention (1: the assignee's answer).
    required_approvals = models.PositiveIntegerField(default=1)
    # When the system answers for the people (the step's timeout); the sweep reads it.
    due_at = models.DateTimeField(null=True, blank=True)
    # The output of the step's last helper script run, offered to the assignee as notes.
    helper_output = models.TextField(blank=True)

    objects = InterruptionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["step"], condition=models.Q(pending=True), name="one_pending_interruption_per_step"
            ),
        ]
        indexes = [
            models.Index(fields=["pending", "created_at"], name="interruption_pending"),
            # The sweep's "which reminders are due".
            models.Index(
                fields=["remind_at"],
                condition=models.Q(remind_at__isnull=False),
                name="interruption_remind_at",
            ),
            models.Index(fields=["pending", "due_at"], name="interruption_pending_due"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_quorum(self) -> bool:
        return self.required_approvals > 1

    @property
    def approvals_given(self) -> int:
        """Proceeds so far, counted from the answers (prefetch them when listing)."""
        return sum(1 for a in self.approvals.all() if a.result == InterruptionResult.PROCEED)


class Approval(models.Model):
    """One answer to a manual intervention: a person's (once each), or the system's on a
    timeout (no user)."""

    interruption = models.ForeignKey(Interruption, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    result = models.CharField(max_length=16, choices=InterruptionResult.choices)
    notes = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["interruption", "user"], name="one_answer_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.get_result_display()} on {self.interruption}"

    @property
    def who(self) -> str:
        return self.user.label if self.user_id else "System"


class InterruptionResponsibleTeam(models.Model):
    """A team responsible for an interruption; protects the team, since the record of who
    could act must not lose it. Kept in the table Django made for the plain many-to-many
    field (its unique pair, hence ``unique_together``)."""

    interruption = models.ForeignKey(Interruption, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "releases_interruption_responsible_teams"
        unique_together = [("interruption", "team")]

    def __str__(self) -> str:
        return f"an intervention of deployment {self.interruption.deployment_id}"


class TaskLogEntry(models.Model):
    """One line of a deployment's task log. Append-only."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="log_entries")
    step = models.ForeignKey(
        DeploymentStep, null=True, blank=True, on_delete=models.CASCADE, related_name="log_entries"
    )
    timestamp = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=16, choices=LogLevel.choices, default=LogLevel.INFO)
    message = models.TextField()

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "task log entries"
        indexes = [models.Index(fields=["deployment", "id"], name="tasklog_deployment_id")]

    def __str__(self) -> str:
        return self.message[:80]


class FreezeQuerySet(models.QuerySet):
    def applying(self, *, project_id: int, environment_id: int, at: datetime) -> "FreezeQuerySet":
        """Freezes of the environment (and of the project, or of every project) at that
        moment: the start is inside a freeze, the end is not."""
        return self.filter(
            models.Q(projects__isnull=True) | models.Q(projects=project_id),
            environments=environment_id,
            start__lte=at,
            end__gt=at,
        ).distinct()


class Freeze(models.Model):
    """A time when deployments to some environments (of some projects; none: all) are
    refused, and scheduled ones wait."""

    name = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    environments = models.ManyToManyField("lifecycles.Environment", related_name="+")
    projects = models.ManyToManyField(
        "processes.Project", blank=True, related_name="+", help_text="None: every project."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = FreezeQuerySet.as_manager()

    class Meta:
        ordering = ["start", "id"]
        indexes = [models.Index(fields=["end", "start"], name="freeze_end_start")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("releases:freeze_list") + f"#freeze-{self.pk}"


class DashboardPreference(models.Model):
    """The dashboard filters a user applied last, restored when they open the dashboard
    without any: kept per user, so they outlive the session."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dashboard_preference"
    )
    group_ids = models.JSONField(default=list, blank=True)
    project_ids = models.JSONField(default=list, blank=True)
    environment_ids = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Dashboard filters of {self.user}"
