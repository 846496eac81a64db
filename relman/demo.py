"""The two scenarios Relman was written from, as data (SPEC §6): the Octopus manual
checklist and the BuildMaster GoodHealth pipeline. ``seed_demo`` loads them; the tests
build on them too. Every function is idempotent."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from lifecycles.choices import PhaseRule
from lifecycles.models import Environment, Lifecycle, Phase, PhaseEnvironment
from processes.choices import StepKind
from processes.models import Project, ProjectGroup, Step
from targets.models import Target
from targets.services import target_create
from teams.choices import Role
from teams.models import RoleGrant, Team, User

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
    Manual Test → Manual Live; the eight-step "Manual Deployment" checklist."""
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
            )
            step.responsible_teams.add(teams[team_name])
    return Demo(users=users, project=project, environments=[test, live])


@transaction.atomic
def goodhealth_demo(password: str | None = DEMO_PASSWORD) -> Demo:
    """Team Admin (admin-ops); Integration → Testing (automatic) → Production; the
    "GoodHealth" pipeline with a manual "Migrate Data" step in Integration only."""
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
            script='echo "Checking build of $RELMAN_PROJECT $RELMAN_RELEASE_VERSION for $RELMAN_ENVIRONMENT"\n',
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
        )
        migrate.responsible_teams.add(admin_team)
        migrate.environments.add(integration)
        Step.objects.create(
            project=project,
            name="Deploy",
            position=3,
            kind=StepKind.SCRIPT,
            script='echo "Deploying $RELMAN_PROJECT $RELMAN_RELEASE_VERSION to $RELMAN_ENVIRONMENT"\n',
            timeout_seconds=120,
        )
    return Demo(
        users={"admin-ops": admin_ops}, project=project, environments=[integration, testing, production]
    )


def demo_admin(password: str | None = DEMO_PASSWORD) -> User:
    return _user("admin", "Administrator", superuser=True, password=password)


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
