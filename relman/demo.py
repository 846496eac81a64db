"""The two scenarios Relman was written from, as data (SPEC §6): the Octopus manual
checklist and the BuildMaster GoodHealth pipeline. ``seed_demo`` loads them; the tests
build on them too. Every function is idempotent."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lifecycles.choices import PhaseRule
from lifecycles.models import Environment, Lifecycle, Phase, PhaseEnvironment
from processes.choices import StepKind
from processes.library import rendered_fields, template_parameters
from processes.models import Project, ProjectGroup, Step, StepTemplate
from processes.parameters import values_resolve
from releases.choices import (
    STEP_FAILURES,
    STEP_FINISHED,
    DeploymentState,
    Guidance,
    InterruptionResult,
    InterruptionType,
    StepState,
)
from releases.models import Deployment, DeploymentStep, Interruption, Release
from releases.services import release_create
from relman import crypto
from targets.models import Target
from targets.services import target_create
from teams.choices import Role
from teams.models import RoleGrant, Team, User
from variables.models import Variable

DEMO_PASSWORD = "relman-demo"

CHECKLIST = [
    ("Backup the database", "DBA Team"),
    ("Upgrade the database", "DBA Team"),
    ("Copy the new application to a temporary folder on the server", "Ops Team"),
    ("Delete the configuration file in the temporary folder", "Ops Team"),
    ("Copy the live configuration file into the temporary folder", "Ops Team"),
    ("Add any new settings to the configuration file", "Ops Team"),
    ("Copy the temporary folder into the live folder", "Ops Team"),
    ("Check the application loads as expected", "Test Team"),
]

CHECKLIST_INSTRUCTIONS = {
    "Backup the database": (
        "Take a full backup of the application database before anything changes.\n\n"
        "1. Connect to the database server.\n"
        "2. Run the backup job and wait for it to finish.\n"
        "3. Paste the backup file name and size into **Notes**."
    ),
    "Upgrade the database": (
        "Apply the release's migration scripts in order, then paste their output into **Notes**."
    ),
    "Check the application loads as expected": (
        "Open the application, sign in, and run the smoke test suite. Paste the summary into **Notes**."
    ),
}


HEALTH_CHECK_TEMPLATE = "HTTP health check"


def healthz_helper_script() -> str:
    """The last checklist step's helper script (rung 2): the shipped HTTP health check,
    asking Relman's own /healthz, which stands in for the application, at RELMAN_BASE_URL
    as seeding saw it (``make run`` serves there). Automating the step ("Automate this
    step") makes it an HTTP health check step that runs by itself."""
    template = StepTemplate.objects.filter(name=HEALTH_CHECK_TEMPLATE).first()
    if template is None:
        raise RuntimeError(
            f'The demo needs the shipped step template "{HEALTH_CHECK_TEMPLATE}", which was deleted: '
            "create it again (Django admin, Step templates) before seeding the demo."
        )
    values = {
        "Url": f"{settings.RELMAN_BASE_URL}/healthz",
        "ExpectedText": "ok",
        "Retries": "2",
        "DelaySeconds": "3",
    }
    script = rendered_fields(
        template, values_resolve(template_parameters(template), values, template=template.name)
    )["script"]
    # Without its final newline: the admin's form strips it, and saving the step unchanged
    # there must not change it.
    return script.rstrip("\n")


@dataclass
class Demo:
    users: dict[str, User]
    project: Project
    environments: list[Environment]


def _user(username: str, display_name: str, *, superuser: bool = False, password: str | None) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"display_name": display_name, "email": f"{username}@example.com"},
    )
    if created:
        user.is_staff = superuser
        user.is_superuser = superuser
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    return user


def _team(name: str, description: str, members: list[User], role: str, group: ProjectGroup) -> Team:
    team, _ = Team.objects.get_or_create(name=name, defaults={"description": description})
    team.members.add(*members)
    if not team.roles.filter(role=role).exists():
        grant = RoleGrant.objects.create(team=team, role=role)
        grant.project_groups.add(group)
    return team


def _environment(name: str, slug: str, order: int, description: str = "") -> Environment:
    env, _ = Environment.objects.get_or_create(
        slug=slug, defaults={"name": name, "sort_order": order, "description": description}
    )
    return env


def _lifecycle(name: str, description: str, phases: list[tuple[str, list[tuple[Environment, bool]]]]):
    lifecycle, created = Lifecycle.objects.get_or_create(name=name, defaults={"description": description})
    if created:
        for position, (phase_name, envs) in enumerate(phases, start=1):
            phase = Phase.objects.create(
                lifecycle=lifecycle, name=phase_name, position=position, rule=PhaseRule.ALL
            )
            for env, automatic in envs:
                PhaseEnvironment.objects.create(phase=phase, environment=env, automatic=automatic)
    return lifecycle


@transaction.atomic
def octopus_demo(password: str | None = DEMO_PASSWORD) -> Demo:
    """Teams DBA/Ops/Test (sarah, olly, tina) with deployer on the Default Project Group;
    Manual Test → Manual Live; the eight-step "Manual Deployment" checklist, its last step
    with a helper script."""
    group = ProjectGroup.default()
    users = {
        "sarah": _user("sarah", "Sarah", password=password),
        "olly": _user("olly", "Olly", password=password),
        "tina": _user("tina", "Tina", password=password),
    }
    teams = {
        "DBA Team": _team("DBA Team", "Database administrators", [users["sarah"]], Role.DEPLOYER, group),
        "Ops Team": _team("Ops Team", "Operations", [users["olly"]], Role.DEPLOYER, group),
        "Test Team": _team("Test Team", "Testers", [users["tina"]], Role.DEPLOYER, group),
    }
    test = _environment("Manual Test", "manual-test", 10, "Where a release is checked first.")
    live = _environment("Manual Live", "manual-live", 20, "Production.")
    lifecycle = _lifecycle(
        "Manual Deployment Lifecycle",
        "A release must be deployed to Manual Test before Manual Live.",
        [("Test", [(test, False)]), ("Live", [(live, False)])],
    )
    project, created = Project.objects.get_or_create(
        slug="manual-deployment",
        defaults={
            "name": "Manual Deployment",
            "group": group,
            "lifecycle": lifecycle,
            "description": "The manual deployment checklist, tracked step by step.",
        },
    )
    if created:
        for position, (name, team_name) in enumerate(CHECKLIST, start=1):
            step = Step.objects.create(
                project=project,
                name=name,
                position=position,
                kind=StepKind.MANUAL,
                instructions=CHECKLIST_INSTRUCTIONS.get(name, ""),
                block_deployments=position <= 2,
                script=healthz_helper_script() if position == len(CHECKLIST) else "",
            )
            step.responsible_teams.add(teams[team_name])
    return Demo(users=users, project=project, environments=[test, live])


@transaction.atomic
def goodhealth_demo(password: str | None = DEMO_PASSWORD) -> Demo:
    """Team Admin (admin-ops); Integration → Testing (automatic) → Production; the
    "GoodHealth" pipeline with a manual "Migrate Data" step (with a helper script) in
    Integration only, and a sensitive ConnectionString per environment that its Deploy
    step uses."""
    group = ProjectGroup.default()
    admin_ops = _user("admin-ops", "Admin Ops", password=password)
    admin_team = _team(
        "Admin", "Administrators of the GoodHealth pipeline", [admin_ops], Role.DEPLOYER, group
    )
    integration = _environment("Integration", "integration", 30)
    testing = _environment("Testing", "testing", 40)
    production = _environment("Production", "production", 50)
    lifecycle = _lifecycle(
        "GoodHealth Pipeline",
        "Integration, then Testing automatically, then Production.",
        [
            ("Integration", [(integration, False)]),
            ("Testing", [(testing, True)]),
            ("Production", [(production, False)]),
        ],
    )
    project, created = Project.objects.get_or_create(
        slug="goodhealth",
        defaults={
            "name": "GoodHealth",
            "group": group,
            "lifecycle": lifecycle,
            "description": "Electronic healthcare records, upgraded to a more efficient platform.",
        },
    )
    if created:
        Step.objects.create(
            project=project,
            name="Build check",
            position=1,
            kind=StepKind.SCRIPT,
            script=(
                'echo "Checking build of $RELMAN_PROJECT $RELMAN_RELEASE_VERSION for $RELMAN_ENVIRONMENT"\n'
                'echo "Database: #{ConnectionString}"\n'
            ),
            timeout_seconds=60,
        )
        migrate = Step.objects.create(
            project=project,
            name="Migrate Data",
            position=2,
            kind=StepKind.MANUAL,
            instructions=(
                "Migrate data from the legacy system with the migration tool before integration "
                "testing. It is UI-based, so it cannot be automated yet.\n\n"
                "Record the number of migrated records in **Notes**."
            ),
            # Rung 2: the tool stays manual, but counting what it moved is scripted.
            script=(
                'echo "Records migrated to $RELMAN_ENVIRONMENT for $RELMAN_PROJECT $RELMAN_RELEASE_VERSION:"\n'
                'echo "legacy system: 1342, new platform: 1342"\n'
            ),
        )
        migrate.responsible_teams.add(admin_team)
        migrate.environments.add(integration)
        Step.objects.create(
            project=project,
            name="Deploy",
            position=3,
            kind=StepKind.SCRIPT,
            script=(
                'echo "Deploying $RELMAN_PROJECT $RELMAN_RELEASE_VERSION to $RELMAN_ENVIRONMENT"\n'
                'echo "Connecting to #{ConnectionString}"\n'
            ),
            timeout_seconds=120,
        )
        # Sensitive, so the steps' logs show it as ********.
        for environment in (integration, testing, production):
            secret = (
                f"Server=db-{environment.slug}.goodhealth.example;Password=demo-{environment.slug}-s3cret"
            )
            variable = Variable.objects.create(
                project=project, name="ConnectionString", sensitive=True, ciphertext=crypto.encrypt(secret)
            )
            variable.environments.add(environment)
    return Demo(
        users={"admin-ops": admin_ops}, project=project, environments=[integration, testing, production]
    )


def demo_admin(password: str | None = DEMO_PASSWORD) -> User:
    return _user("admin", "Administrator", superuser=True, password=password)


# --- history: past months of deployments, for Insights ------------------------------------


@dataclass(frozen=True)
class PastStep:
    """How one step of a past deployment went: its state and, for a step that asked a
    person, when the question was raised, taken and answered (None: not yet)."""

    state: str
    raised_at: datetime | None = None
    taken_at: datetime | None = None
    submitted_at: datetime | None = None


def past_release(project: Project, version: str, created_at: datetime) -> Release:
    """A release created by the system at ``created_at``, with the process's snapshot as it
    is now."""
    release = release_create(project=project, version=version, notes="", actor=None)
    Release.objects.filter(pk=release.pk).update(created_at=created_at)
    release.created_at = created_at
    return release


def past_deployment(
    *,
    release: Release,
    environment: Environment,
    state: str,
    created_at: datetime,
    finished_at: datetime | None,
    steps: dict[str, PastStep],
    person: User | None = None,
) -> Deployment:
    """A deployment written straight into the history as the engine would have left it
    (the rows only, no task log): the demo's past months and the tests' hand-computed
    figures. The release's steps that ``steps`` does not name were skipped; ``person``
    took and answered every interruption."""
    deployment = Deployment.objects.create(
        release=release,
        project_id=release.project_id,
        environment=environment,
        state=state,
        created_at=created_at,
        queued_at=created_at,
        started_at=created_at,
        finished_at=finished_at,
        updated_at=finished_at or created_at,
    )
    for release_step in release.steps.order_by("position"):
        past = steps.get(release_step.name, PastStep(StepState.SKIPPED))
        step = DeploymentStep.objects.create(
            deployment=deployment,
            release_step=release_step,
            position=release_step.position,
            state=past.state,
            started_at=past.raised_at or created_at,
            finished_at=(past.submitted_at or created_at) if past.state in STEP_FINISHED else None,
            attempts=1,
        )
        if past.raised_at is None:
            continue
        answered = past.submitted_at is not None
        manual = release_step.kind == StepKind.MANUAL
        Interruption.objects.create(
            deployment=deployment,
            step=step,
            type=InterruptionType.MANUAL_INTERVENTION if manual else InterruptionType.GUIDED_FAILURE,
            title=release_step.name,
            created_at=past.raised_at,
            pending=not answered and past.state == StepState.WAITING,
            assignee=person if past.taken_at else None,
            taken_at=past.taken_at,
            result=(InterruptionResult.ABORT if past.state in STEP_FAILURES else InterruptionResult.PROCEED)
            if answered and manual
            else "",
            guidance=Guidance.FAIL if answered and not manual else "",
            submitted_by=person if answered else None,
            submitted_at=past.submitted_at,
        )
    return deployment


# Minutes a person takes to pick up (wait) and to do (work) each manual step of the demo:
# the database steps wait for the DBA, the checks for the testers.
_PEOPLE_MINUTES = {
    "Backup the database": ((10, 45), (10, 25)),
    "Upgrade the database": ((30, 150), (25, 70)),
    "Copy the new application to a temporary folder on the server": ((2, 15), (3, 8)),
    "Delete the configuration file in the temporary folder": ((1, 10), (1, 3)),
    "Copy the live configuration file into the temporary folder": ((1, 10), (1, 4)),
    "Add any new settings to the configuration file": ((5, 30), (10, 30)),
    "Copy the temporary folder into the live folder": ((1, 10), (2, 5)),
    "Check the application loads as expected": ((15, 90), (15, 40)),
    "Migrate Data": ((20, 120), (30, 90)),
}


def history_demo(scenario: Demo, person: User, *, weeks: int = 13, now: datetime | None = None) -> int:
    """``weeks`` of weekly releases of the scenario's project, each deployed through its
    environments with people answering the manual steps, and now and then a failure put
    right the next day: what Insights reads. Deterministic; does nothing for a project
    that has releases already. Returns the number of deployments written."""
    project = scenario.project
    if Release.objects.filter(project=project).exists():
        return 0
    rng = random.Random(project.slug)
    now = now or timezone.now()
    written = 0
    for week in range(weeks):
        start = now - timedelta(weeks=weeks - week, hours=rng.randint(0, 24))
        release = past_release(project, f"0.{week + 1}.0", start)
        moment = start + timedelta(hours=rng.randint(2, 20))
        for environment in scenario.environments:
            failed = rng.random() < 0.2
            moment = _past_run(release, environment, moment, person, rng, failed=failed)
            written += 1
            if failed:
                moment = _past_run(
                    release, environment, moment + timedelta(hours=18), person, rng, failed=False
                )
                written += 1
            moment += timedelta(hours=rng.randint(4, 30))
    return written


def _past_run(
    release: Release,
    environment: Environment,
    moment: datetime,
    person: User,
    rng: random.Random,
    *,
    failed: bool,
) -> datetime:
    """One deployment: every step in order, the last one failing when ``failed``. Returns
    when it finished."""
    created_at = moment
    applicable = [
        s
        for s in release.steps.order_by("position").prefetch_related("environments")
        if not s.environments.all() or environment in s.environments.all()
    ]
    steps = {}
    for index, release_step in enumerate(applicable):
        fails = failed and index == len(applicable) - 1
        if release_step.kind == StepKind.MANUAL:
            (wait_low, wait_high), (work_low, work_high) = _PEOPLE_MINUTES.get(
                release_step.name, ((5, 20), (5, 20))
            )
            raised_at = moment
            taken_at = raised_at + timedelta(minutes=rng.randint(wait_low, wait_high))
            moment = taken_at + timedelta(minutes=rng.randint(work_low, work_high))
            state = StepState.ABORTED if fails else StepState.SUCCESS
            steps[release_step.name] = PastStep(state, raised_at, taken_at, moment)
        else:
            moment += timedelta(seconds=rng.randint(20, 240))
            steps[release_step.name] = PastStep(StepState.FAILED if fails else StepState.SUCCESS)
    state = DeploymentState.FAILED if failed else DeploymentState.SUCCESS
    past_deployment(
        release=release,
        environment=environment,
        state=state,
        created_at=created_at,
        finished_at=moment,
        steps=steps,
        person=person,
    )
    return moment


# The demo's target: `serve` runs a local agent for it (relman.management.commands.serve).
DEMO_TARGET_SLUG = "manual-test"


def demo_target() -> Target:
    """The "Manual Test" target, role ``app``, serving the demo's environments, and
    GoodHealth's Deploy script set to run on targets with that role; so the first
    deployment a new user watches runs a step on an agent. Needs both scenarios loaded."""
    target = Target.objects.filter(slug=DEMO_TARGET_SLUG).first()
    if target is None:
        environments = Environment.objects.filter(
            slug__in=["manual-test", "integration", "testing", "production"]
        )
        target, _ = target_create(
            name="Manual Test",
            slug=DEMO_TARGET_SLUG,
            description="This machine, through the agent that `manage.py serve` starts.",
            environments=list(environments),
            roles=["app"],
            actor=None,
        )
    Step.objects.filter(project__slug="goodhealth", name="Deploy", target_roles=[]).update(
        target_roles=["app"]
    )
    return target
