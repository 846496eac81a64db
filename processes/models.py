from django.db import models
from django.urls import reverse

from processes.choices import (
    DEFAULT_PROJECT_GROUP,
    DEFAULT_SCRIPT_TIMEOUT_SECONDS,
    OnTimeout,
    RunCondition,
    StepKind,
    automation_level,
)
from teams.scoping import ScopedQuerySet


class ProjectQuerySet(ScopedQuerySet):
    project_field = ""
    environment_field = None


class ProjectGroup(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def default(cls) -> "ProjectGroup":
        """The Default Project Group (made by a migration; remade if someone deleted it)."""
        return cls.objects.get_or_create(name=DEFAULT_PROJECT_GROUP)[0]


class Project(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    group = models.ForeignKey(ProjectGroup, on_delete=models.PROTECT, related_name="projects")
    lifecycle = models.ForeignKey("lifecycles.Lifecycle", on_delete=models.PROTECT, related_name="projects")
    description = models.TextField(blank=True)
    disabled = models.BooleanField(default=False)
    guided_failure = models.BooleanField(
        default=False, help_text="Default for new deployments: ask a person when a script fails."
    )

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("releases:project_detail", args=[self.slug])


class StepFields(models.Model):
    """Every column of a process step. A release snapshot (releases.ReleaseStep) copies
    them all, so both inherit them from here; the many-to-many fields, which each need a
    link model of their own, come from the ``step_*`` functions below."""

    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=StepKind.choices, default=StepKind.MANUAL)
    enabled = models.BooleanField(default=True)
    run_condition = models.CharField(
        max_length=16, choices=RunCondition.choices, default=RunCondition.SUCCESS
    )
    instructions = models.TextField(blank=True, help_text="Markdown, shown to the person who acts.")
    block_deployments = models.BooleanField(
        default=False,
        help_text="Prevent other deployments to this environment while awaiting intervention.",
    )
    prevent_self_approval = models.BooleanField(
        default=False, help_text="The user who created the deployment may not take this step."
    )
    script = models.TextField(blank=True, help_text="Bash, run by a worker; exit code 0 is success.")
    timeout_seconds = models.PositiveIntegerField(default=DEFAULT_SCRIPT_TIMEOUT_SECONDS)
    remind_after_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Remind the people who may take the step when it has waited this long (empty: never).",
    )
    notify = models.JSONField(
        default=list, blank=True, help_text="More addresses mailed when the step waits (BuildMaster's CC)."
    )
    target_roles = models.JSONField(
        default=list,
        blank=True,
        help_text="Run the script on every enabled target of the environment with one of these roles "
        "(none: on Relman's built-in runner).",
    )
    required_approvals = models.PositiveIntegerField(
        default=1, help_text="Distinct people who must proceed before the step completes."
    )
    timeout_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Answer for the people after this long (empty: wait for them)."
    )
    on_timeout = models.CharField(
        max_length=16,
        choices=OnTimeout.choices,
        default=OnTimeout.ABORT,
        help_text="The system's answer when no one answered in time.",
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name

    @property
    def is_manual(self) -> bool:
        return self.kind == StepKind.MANUAL

    @property
    def automation_level(self) -> int:
        """Where the step stands on the automation ladder (SPEC §11)."""
        return automation_level(self.kind, self.script)


# The many-to-many fields of a step. Each goes through a link model that protects its
# environment or team: deleting one would silently widen the step to every environment
# or open it to every deployer, so it is refused while a step names it.


def step_environments(through: str) -> models.ManyToManyField:
    return models.ManyToManyField(
        "lifecycles.Environment",
        through=through,
        blank=True,
        related_name="+",
        help_text="Run only in these environments (none: every environment).",
    )


def step_excluded_environments(through: str) -> models.ManyToManyField:
    return models.ManyToManyField(
        "lifecycles.Environment",
        through=through,
        blank=True,
        related_name="+",
        help_text="Never run in these environments.",
    )


def step_responsible_teams(through: str) -> models.ManyToManyField:
    return models.ManyToManyField("teams.Team", through=through, blank=True, related_name="+")


class StepTemplate(models.Model):
    """A reusable step (SPEC §11): the fields it gives a step, with ``#{Parameter}``
    placeholders, and the parameters a step fills in (``processes.parameters``). Every
    change goes through the services, which raise ``version`` by one."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=StepKind.choices, default=StepKind.MANUAL)
    instructions = models.TextField(blank=True, help_text="Markdown, with #{Parameter} placeholders.")
    script = models.TextField(
        blank=True,
        help_text="Bash, with #{Parameter} placeholders, each written bare: Relman quotes every value.",
    )
    timeout_seconds = models.PositiveIntegerField(default=DEFAULT_SCRIPT_TIMEOUT_SECONDS)
    parameters = models.JSONField(
        default=list, blank=True, help_text="[{name, label, help, default, sensitive}], in the order asked."
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    shipped = models.BooleanField(
        default=False, editable=False, help_text="Part of the library Relman ships."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Step(StepFields):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="steps")
    environments = step_environments("StepEnvironment")
    excluded_environments = step_excluded_environments("StepExcludedEnvironment")
    responsible_teams = step_responsible_teams("StepResponsibleTeam")
    # A step made from a template: which, at which version, with which parameter values.
    # Only the process's steps have them; a release's snapshot has the rendered fields.
    template = models.ForeignKey(
        StepTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="steps"
    )
    template_version = models.PositiveIntegerField(null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["project", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="step_name_unique_in_project"),
        ]

    @property
    def template_outdated(self) -> bool:
        """The step's template has a newer version than the one it was made from."""
        return self.template is not None and (self.template_version or 0) < self.template.version


class StepLink(models.Model):
    """A row linking a process step to something it uses. The tables were made by Django
    for plain many-to-many fields; these models keep their names and columns (and their
    unique pair, hence ``unique_together``)."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"step {self.step.name} of {self.step.project}"


class StepEnvironment(StepLink):
    environment = models.ForeignKey("lifecycles.Environment", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "processes_step_environments"
        unique_together = [("step", "environment")]


class StepExcludedEnvironment(StepLink):
    environment = models.ForeignKey("lifecycles.Environment", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "processes_step_excluded_environments"
        unique_together = [("step", "environment")]


class StepResponsibleTeam(StepLink):
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "processes_step_responsible_teams"
        unique_together = [("step", "team")]
