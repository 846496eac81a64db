"""The admin site: every page loads without N+1 queries, configuration changes go through
the services (validated, audited as ``{field: [old, new]}``, refused as a message on the
page), and what happened (deployments, interruptions) is read-only."""

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core import checks
from django.urls import reverse
from django.utils import timezone

from lifecycles.choices import PhaseRule
from lifecycles.models import Environment, Lifecycle, Phase, PhaseEnvironment
from notifications.models import Attempt, Delivery, Event
from notifications.services import webhook_create
from processes.choices import StepKind
from processes.library import step_add_from_template
from processes.models import Project, ProjectGroup, Step, StepTemplate
from releases.choices import DeploymentState, InterruptionType, StepState
from releases.models import (
    Deployment,
    DeploymentStep,
    Interruption,
    Release,
    ReleaseStep,
    TaskLogEntry,
)
from releases.services import freeze_create
from relman.exceptions import Conflict
from targets.services import target_create
from teams.audit import audit_record
from teams.choices import Role
from teams.models import ApiKey, AuditEvent, RoleGrant, Team, User
from teams.services import api_key_create
from variables.models import LibraryVariableSet
from variables.services import VariableSpec, library_set_create

# A changelist costs a fixed number of queries (session, user, counts, rows, filter
# choices, date hierarchy) whatever the number of rows; a per-row query would exceed this.
CHANGELIST_MAX_QUERIES = 12


@dataclass
class Rows:
    environments: list[Environment]
    lifecycle: Lifecycle
    phases: list[Phase]
    team: Team
    project: Project
    steps: list[Step]
    release: Release
    deployment: Deployment
    interruption: Interruption
    api_key: ApiKey


ADMIN_SECRET = "admin-held-secret-7"


def _make_rows(suffix: str = "") -> Rows:
    """A small but complete configuration and history, built directly with the ORM."""
    environments = [
        Environment.objects.create(name=f"{name}{suffix}", slug=f"{name.lower()}{suffix}", sort_order=n)
        for n, name in enumerate(["Development", "Test", "Production"])
    ]
    lifecycle = Lifecycle.objects.create(name=f"Standard{suffix}")
    phases = []
    for position, environment in enumerate(environments, start=1):
        phase = Phase.objects.create(lifecycle=lifecycle, name=environment.name, position=position)
        PhaseEnvironment.objects.create(phase=phase, environment=environment, automatic=position == 1)
        phases.append(phase)

    users = [User.objects.create_user(f"user{n}{suffix}", display_name=f"User {n}{suffix}") for n in range(3)]
    team = Team.objects.create(name=f"DBA Team{suffix}")
    team.members.add(*users)
    grant = RoleGrant.objects.create(team=team, role=Role.DEPLOYER)
    grant.environments.add(environments[0])

    group = ProjectGroup.objects.create(name=f"Group{suffix}")
    project = Project.objects.create(
        name=f"Manual Deployment{suffix}", slug=f"manual-deployment{suffix}", group=group, lifecycle=lifecycle
    )
    steps = [
        Step.objects.create(project=project, name="Backup the database", position=1),
        Step.objects.create(
            project=project, name="Run tests", position=2, kind=StepKind.SCRIPT, script="echo ok"
        ),
    ]
    steps[0].responsible_teams.add(team)
    steps[1].excluded_environments.add(environments[2])

    release = Release.objects.create(project=project, version="1.0.0", created_by=users[0])
    release_steps = []
    for step in steps:
        release_step = ReleaseStep.objects.create(
            release=release,
            name=step.name,
            position=step.position,
            kind=step.kind,
            script=step.script,
        )
        release_steps.append(release_step)
    release_steps[0].responsible_teams.add(team)

    deployment = Deployment.objects.create(
        release=release,
        project=project,
        environment=environments[0],
        state=DeploymentState.WAITING,
        created_by=users[0],
    )
    deployment_steps = [
        DeploymentStep.objects.create(
            deployment=deployment, release_step=release_step, position=release_step.position
        )
        for release_step in release_steps
    ]
    deployment_steps[0].state = StepState.WAITING
    deployment_steps[0].save(update_fields=["state"])
    interruption = Interruption.objects.create(
        deployment=deployment,
        step=deployment_steps[0],
        type=InterruptionType.MANUAL_INTERVENTION,
        title="Backup the database",
        assignee=users[1],
        taken_at=timezone.now(),
    )
    interruption.responsible_teams.add(team)
    TaskLogEntry.objects.create(deployment=deployment, message="Waiting for DBA Team.")
    freeze_create(
        name=f"Holidays{suffix}",
        start=timezone.now(),
        end=timezone.now() + timedelta(days=1),
        environments=environments[1:],
        projects=[project],
        actor=None,
    )

    api_key, _ = api_key_create(user=users[0], purpose="CI", actor=None)
    api_key_create(user=users[1], purpose="Nightly", expires_in=timedelta(days=1), actor=None)
    audit_record(
        actor=users[0],
        action="deployment.created",
        subject=deployment,
        project=project,
        environment=environments[0],
    )
    Group.objects.create(name=f"Admin helpers{suffix}")
    webhook, _ = webhook_create(
        name=f"Chat{suffix}", url=f"https://hooks.example.com/relman{suffix}", actor=None
    )
    event = Event.objects.create(kind="deployment.failed", deployment_id=deployment.pk, project=project)
    delivery = Delivery.objects.create(
        event=event, channel="webhook", webhook=webhook, state="failed", attempts=1
    )
    Attempt.objects.create(delivery=delivery, number=1, status_code=500, error="The receiver answered 500.")
    library_set_create(
        name=f"Shared{suffix}",
        variables=[
            VariableSpec("Smtp.Password", ADMIN_SECRET, sensitive=True, environments=environments[2:])
        ],
        actor=None,
    )
    target_create(name=f"web-1{suffix}", environments=[environments[0]], roles=["web"], actor=None)
    return Rows(
        environments=environments,
        lifecycle=lifecycle,
        phases=phases,
        team=team,
        project=project,
        steps=steps,
        release=release,
        deployment=deployment,
        interruption=interruption,
        api_key=api_key,
    )


@pytest.fixture
def rows(db) -> Rows:
    return _make_rows()


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _registered_models():
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


def _inline_management(prefix: str, total: int, initial: int = 0) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


# --- every page loads ---------------------------------------------------------------------


def test_admin_passes_the_system_checks(db):
    assert checks.run_checks(tags=[checks.Tags.admin]) == []


def test_site_is_titled(admin_client):
    response = admin_client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert "Relman administration" in response.content.decode()


def test_every_changelist_and_add_page_loads(admin_client, rows):
    for model in _registered_models():
        changelist = admin_client.get(_url(model, "changelist"))
        assert changelist.status_code == 200, model

        model_admin = admin.site._registry[model]
        add = admin_client.get(_url(model, "add"))
        expected = 200 if model_admin.has_add_permission(changelist.wsgi_request) else 403
        assert add.status_code == expected, model


def test_every_change_page_loads(admin_client, rows):
    for model in _registered_models():
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, model
        response = admin_client.get(_url(model, "change", obj.pk))
        assert response.status_code == 200, model


def test_changelists_make_a_bounded_number_of_queries(admin_client, rows, django_assert_max_num_queries):
    _make_rows(suffix="-2")
    _make_rows(suffix="-3")
    admin_client.get(reverse("admin:index"))  # the session is loaded and cached once

    for model in _registered_models():
        with django_assert_max_num_queries(CHANGELIST_MAX_QUERIES, info=str(model)):
            response = admin_client.get(_url(model, "changelist"))
        assert response.status_code == 200, model


def test_user_changelist_shows_display_name_and_teams(admin_client, rows):
    response = admin_client.get(_url(User, "changelist"))

    content = response.content.decode()
    assert "User 0" in content
    assert "DBA Team" in content


def test_user_created_with_display_name_is_audited_without_password(admin_client, db):
    response = admin_client.post(
        _url(User, "add"),
        {
            "username": "sarah",
            "display_name": "Sarah",
            "email": "sarah@example.com",
            "usable_password": "true",
            "password1": "a-long-Passphrase-42",
            "password2": "a-long-Passphrase-42",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="sarah")
    assert user.display_name == "Sarah"
    event = AuditEvent.objects.get(action="user.created")
    assert event.changes["display_name"] == "Sarah"
    assert "a-long-Passphrase-42" not in str(event.changes)


# --- lifecycles ---------------------------------------------------------------------------


def _lifecycle_post(name: str, phases: list[dict]) -> dict[str, str]:
    data = {"name": name, "description": "", **_inline_management("phases", len(phases))}
    for index, phase in enumerate(phases):
        for field, value in phase.items():
            data[f"phases-{index}-{field}"] = value
    return data


def test_lifecycle_created_with_phases_is_audited(admin_client, db):
    response = admin_client.post(
        _url(Lifecycle, "add"),
        _lifecycle_post(
            "Standard",
            [
                {"name": "Test", "position": "1", "rule": PhaseRule.ALL, "minimum": ""},
                {"name": "Production", "position": "2", "rule": PhaseRule.OPTIONAL, "minimum": ""},
            ],
        ),
        REMOTE_ADDR="10.1.2.3",
    )

    assert response.status_code == 302
    lifecycle = Lifecycle.objects.get(name="Standard")
    assert [phase.name for phase in lifecycle.phases.order_by("position")] == ["Test", "Production"]
    created = AuditEvent.objects.get(action="lifecycle.created")
    assert created.subject_id == str(lifecycle.pk)
    assert created.actor.username == "admin"
    assert created.source_ip == "10.1.2.3"
    assert created.changes["name"] == "Standard"
    assert [phase["name"] for phase in created.changes["phases"]] == ["Test", "Production"]
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["lifecycle.created"]


def test_lifecycle_update_and_delete_are_audited(admin_client, rows):
    lifecycle = Lifecycle.objects.create(name="Unused")

    admin_client.post(
        _url(Lifecycle, "change", lifecycle.pk),
        _lifecycle_post("Unused lifecycle", []),
    )
    admin_client.post(_url(Lifecycle, "delete", lifecycle.pk), {"post": "yes"})

    updated = AuditEvent.objects.get(action="lifecycle.updated")
    assert updated.changes == {"name": ["Unused", "Unused lifecycle"]}
    assert AuditEvent.objects.filter(action="lifecycle.deleted", subject_id=str(lifecycle.pk)).exists()
    assert not Lifecycle.objects.filter(pk=lifecycle.pk).exists()


def test_minimum_rule_without_minimum_is_refused_naming_the_phase(admin_client, db):
    response = admin_client.post(
        _url(Lifecycle, "add"),
        _lifecycle_post(
            "Standard",
            [{"name": "Acceptance", "position": "1", "rule": PhaseRule.MINIMUM, "minimum": ""}],
        ),
    )

    assert response.status_code == 200
    assert "Phase Acceptance: the rule “minimum” needs a minimum" in response.content.decode()
    assert not Lifecycle.objects.exists()


def test_minimum_with_another_rule_is_refused(admin_client, db):
    response = admin_client.post(
        _url(Lifecycle, "add"),
        _lifecycle_post(
            "Standard", [{"name": "Test", "position": "1", "rule": PhaseRule.ALL, "minimum": "1"}]
        ),
    )

    assert response.status_code == 200
    assert "Phase Test: a minimum applies only to the rule “minimum”" in response.content.decode()


def _phase_post(phase: Phase, environments: list[tuple[Environment, bool]], **fields) -> dict:
    saved = list(phase.phase_environments.all())
    data = {
        "lifecycle": str(phase.lifecycle_id),
        "name": phase.name,
        "position": str(phase.position),
        "rule": phase.rule,
        "minimum": "" if phase.minimum is None else str(phase.minimum),
        **{key: str(value) for key, value in fields.items()},
        **_inline_management("phase_environments", len(environments), initial=len(saved)),
    }
    for index, (environment, automatic) in enumerate(environments):
        prefix = f"phase_environments-{index}"
        data[f"{prefix}-environment"] = str(environment.pk)
        data[f"{prefix}-phase"] = str(phase.pk)
        if index < len(saved):
            data[f"{prefix}-id"] = str(saved[index].pk)
        if automatic:
            data[f"{prefix}-automatic"] = "on"
    return data


def test_environment_in_two_phases_of_one_lifecycle_is_refused(admin_client, rows):
    development, test, _ = rows.environments
    production_phase = rows.phases[2]

    response = admin_client.post(
        _url(Phase, "change", production_phase.pk),
        _phase_post(production_phase, [(rows.environments[2], False), (test, False)]),
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert "Phase Production: Test is already in phase Test" in content
    assert production_phase.phase_environments.count() == 1


def test_environment_may_be_in_phases_of_different_lifecycles(admin_client, rows):
    other = Lifecycle.objects.create(name="Hotfix")
    phase = Phase.objects.create(lifecycle=other, name="Straight to production", position=1)

    response = admin_client.post(
        _url(Phase, "change", phase.pk), _phase_post(phase, [(rows.environments[2], True)])
    )

    assert response.status_code == 302
    assert other.phases.get().phase_environments.get().automatic is True
    event = AuditEvent.objects.get(action="lifecycle.updated")
    assert event.subject_id == str(other.pk)
    before = {"name": "Straight to production", "rule": PhaseRule.ALL, "minimum": None, "environments": []}
    after = {**before, "environments": [{"environment": "production", "automatic": True}]}
    assert event.changes == {"phases": [[before], [after]]}


def test_minimum_above_environment_count_is_refused(admin_client, rows):
    phase = rows.phases[0]

    response = admin_client.post(
        _url(Phase, "change", phase.pk),
        _phase_post(phase, [(rows.environments[0], True)], rule=PhaseRule.MINIMUM, minimum=2),
    )

    assert response.status_code == 200
    assert "Phase Development: The minimum must be between 1 and the phase&#x27;s 1 environment" in (
        response.content.decode()
    )


def test_environment_sort_order_is_editable_from_the_list(admin_client, rows):
    environments = rows.environments
    data = {
        "form-TOTAL_FORMS": "3",
        "form-INITIAL_FORMS": "3",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, environment in enumerate(environments):
        data[f"form-{index}-id"] = str(environment.pk)
        data[f"form-{index}-sort_order"] = str(environment.sort_order)
    data["form-2-sort_order"] = "10"

    response = admin_client.post(_url(Environment, "changelist"), data)

    assert response.status_code == 302
    environments[2].refresh_from_db()
    assert environments[2].sort_order == 10
    event = AuditEvent.objects.get(action="environment.updated")
    assert event.changes == {"sort_order": [2, 10]}
    assert event.environment == environments[2]


# --- processes ----------------------------------------------------------------------------


def _project_post(project: Project, steps: list[dict], initial: int) -> dict[str, str]:
    data = {
        "name": project.name,
        "slug": project.slug,
        "group": str(project.group_id),
        "lifecycle": str(project.lifecycle_id),
        "description": project.description,
        **_inline_management("steps", len(steps), initial=initial),
    }
    for index, step in enumerate(steps):
        for field, value in step.items():
            data[f"steps-{index}-{field}"] = value
        data[f"steps-{index}-project"] = str(project.pk)
    return data


def _step_row(step: Step | None, name: str, position: str, **extra) -> dict[str, str]:
    row = {
        "name": name,
        "position": position,
        "kind": StepKind.MANUAL,
        "enabled": "on",
        "run_condition": "success",
        "instructions": "",
        "script": "",
        "timeout_seconds": "600",
        "required_approvals": "1",
        "on_timeout": "abort",
        **extra,
    }
    if step is not None:
        row["id"] = str(step.pk)
    return row


def test_steps_are_saved_as_one_process_in_position_order(admin_client, rows):
    backup, tests = rows.steps

    response = admin_client.post(
        _url(Project, "change", rows.project.pk),
        _project_post(
            rows.project,
            [
                _step_row(backup, backup.name, "30"),
                _step_row(tests, tests.name, "7", kind=StepKind.SCRIPT, script="echo ok"),
                _step_row(None, "Notify", "7"),
                _step_row(None, "Smoke test", ""),
            ],
            initial=2,
        ),
    )

    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    names = list(rows.project.steps.order_by("position").values_list("name", "position"))
    assert names == [
        ("Run tests", 1),
        ("Notify", 2),
        ("Backup the database", 3),
        ("Smoke test", 4),
    ]
    event = AuditEvent.objects.get(action="process.updated")
    assert event.project == rows.project
    before, after = event.changes["steps"]
    assert [step["name"] for step in before] == ["Backup the database", "Run tests"]
    assert [step["name"] for step in after] == ["Run tests", "Notify", "Backup the database", "Smoke test"]
    assert list(
        AuditEvent.objects.filter(project=rows.project).order_by("pk").values_list("action", flat=True)
    ) == [
        "deployment.created",
        "process.updated",
    ]


def test_step_in_both_environment_lists_is_refused_naming_it(admin_client, rows):
    backup, _ = rows.steps
    production = rows.environments[2]

    response = admin_client.post(
        _url(Step, "change", backup.pk),
        {
            "project": str(rows.project.pk),
            **_step_row(None, backup.name, "1"),
            "environments": [str(production.pk)],
            "excluded_environments": [str(production.pk)],
        },
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert "Step Backup the database: Production cannot be both included and excluded." in content


def test_script_step_needs_a_script(admin_client, rows):
    response = admin_client.post(
        _url(Step, "add"),
        {"project": str(rows.project.pk), **_step_row(None, "Migrate", "", kind=StepKind.SCRIPT)},
    )

    assert response.status_code == 200
    assert "Step Migrate: A script step needs a script." in response.content.decode()


def test_step_deleted_in_the_admin_closes_the_gap(admin_client, rows):
    backup, _ = rows.steps

    response = admin_client.post(_url(Step, "delete", backup.pk), {"post": "yes"})

    assert response.status_code == 302
    assert list(rows.project.steps.values_list("name", "position")) == [("Run tests", 1)]
    event = AuditEvent.objects.get(action="process.updated", project=rows.project)
    assert [[step["name"] for step in steps] for steps in event.changes["steps"]] == [
        ["Backup the database", "Run tests"],
        ["Run tests"],
    ]


def test_step_edited_on_its_page_saves_the_whole_process(admin_client, rows):
    backup, _ = rows.steps

    response = admin_client.post(
        _url(Step, "change", backup.pk),
        {**_step_row(None, "Back up the database", "5"), "_continue": "Save and continue editing"},
    )

    assert response.status_code == 302
    assert list(rows.project.steps.values_list("name", "position")) == [
        ("Run tests", 1),
        ("Back up the database", 2),
    ]
    moved = rows.project.steps.get(name="Back up the database")
    assert response["Location"] == _url(Step, "change", moved.pk)
    event = AuditEvent.objects.get(action="process.updated")
    assert [step["name"] for step in event.changes["steps"][1]] == ["Run tests", "Back up the database"]


def test_step_added_on_its_page_goes_at_the_end(admin_client, rows):
    response = admin_client.post(
        _url(Step, "add"), {"project": str(rows.project.pk), **_step_row(None, "Notify", "")}
    )

    assert response.status_code == 302
    assert list(rows.project.steps.values_list("name", "position")) == [
        ("Backup the database", 1),
        ("Run tests", 2),
        ("Notify", 3),
    ]
    assert AuditEvent.objects.filter(action="process.updated", project=rows.project).count() == 1


def test_refused_project_change_shows_on_the_form_and_saves_nothing(admin_client, rows):
    Project.objects.create(name="Scratch", slug="scratch", group=rows.project.group, lifecycle=rows.lifecycle)
    backup, tests = rows.steps
    data = _project_post(
        rows.project,
        [
            _step_row(backup, "Renamed backup", "1"),
            _step_row(tests, tests.name, "2", kind=StepKind.SCRIPT, script="echo ok"),
        ],
        initial=2,
    )
    # The form accepts it (the column is unique as written); the service compares names
    # regardless of case.
    data["name"] = "scratch"

    response = admin_client.post(_url(Project, "change", rows.project.pk), data)

    assert response.status_code == 200
    content = response.content.decode()
    assert "A project named scratch already exists." in content
    assert 'value="Renamed backup"' in content
    assert rows.project.steps.filter(pk=backup.pk, name="Backup the database").exists()
    assert not AuditEvent.objects.filter(action__in=["project.updated", "process.updated"]).exists()


def test_refusal_after_a_first_write_rolls_back_the_whole_save(admin_client, rows, monkeypatch):
    def refuse(**kwargs):
        raise Conflict("The process is being changed elsewhere.")

    monkeypatch.setattr("processes.admin.process_replace", refuse)
    backup, tests = rows.steps
    data = _project_post(
        rows.project,
        [
            _step_row(backup, backup.name, "1"),
            _step_row(tests, tests.name, "2", kind=StepKind.SCRIPT, script="echo ok"),
        ],
        initial=2,
    )
    data["description"] = "Changed"

    response = admin_client.post(_url(Project, "change", rows.project.pk), data)

    assert response.status_code == 200
    assert "The process is being changed elsewhere." in response.content.decode()
    rows.project.refresh_from_db()
    assert rows.project.description == ""
    assert not AuditEvent.objects.filter(action="project.updated").exists()


def test_project_group_is_created_and_changed_through_the_services(admin_client, db):
    admin_client.post(_url(ProjectGroup, "add"), {"name": "Web", "description": ""}, REMOTE_ADDR="10.1.2.3")
    group = ProjectGroup.objects.get(name="Web")

    response = admin_client.post(
        _url(ProjectGroup, "change", group.pk), {"name": "Web sites", "description": ""}
    )

    assert response.status_code == 302
    created = AuditEvent.objects.get(action="project_group.created")
    assert created.source_ip == "10.1.2.3"
    assert AuditEvent.objects.get(action="project_group.updated").changes == {"name": ["Web", "Web sites"]}


def test_project_group_name_taken_in_another_case_is_refused(admin_client, rows):
    response = admin_client.post(_url(ProjectGroup, "add"), {"name": "GROUP", "description": ""})

    assert response.status_code == 200
    assert "A project group named GROUP already exists." in response.content.decode()
    assert not ProjectGroup.objects.filter(name="GROUP").exists()


def test_configuration_is_never_deleted_in_bulk(admin_client, rows):
    for model in (Team, Environment, Lifecycle, Phase, ProjectGroup, Project, Step, User):
        response = admin_client.get(_url(model, "changelist"))
        assert 'value="delete_selected"' not in response.content.decode(), model


# --- releases: read-only history ----------------------------------------------------------


def test_deployment_change_page_has_no_save_button(admin_client, rows):
    response = admin_client.get(_url(Deployment, "change", rows.deployment.pk))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="_save"' not in content
    assert 'name="state"' not in content
    assert "Backup the database" in content


def test_deployment_state_cannot_be_changed_by_post(admin_client, rows):
    response = admin_client.post(
        _url(Deployment, "change", rows.deployment.pk), {"state": DeploymentState.SUCCESS}
    )

    assert response.status_code == 403
    rows.deployment.refresh_from_db()
    assert rows.deployment.state == DeploymentState.WAITING


def test_deployments_and_interruptions_cannot_be_added_or_deleted(admin_client, rows):
    for model, obj in ((Deployment, rows.deployment), (Interruption, rows.interruption)):
        assert admin_client.get(_url(model, "add")).status_code == 403
        assert admin_client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert Deployment.objects.filter(pk=rows.deployment.pk).exists()


def test_interruption_cannot_be_answered_in_the_admin(admin_client, rows):
    response = admin_client.post(
        _url(Interruption, "change", rows.interruption.pk), {"pending": "", "result": "proceed"}
    )

    assert response.status_code == 403
    rows.interruption.refresh_from_db()
    assert rows.interruption.pending is True


def test_release_notes_are_editable_and_audited(admin_client, rows):
    snapshot = list(rows.release.steps.values_list("pk", flat=True))
    data = {"notes": "Fixes the login page.", **_inline_management("steps", 2, initial=2)}
    for index, pk in enumerate(snapshot):
        data[f"steps-{index}-id"] = str(pk)

    response = admin_client.post(_url(Release, "change", rows.release.pk), data)

    assert response.status_code == 302
    rows.release.refresh_from_db()
    assert rows.release.notes == "Fixes the login page."
    assert rows.release.version == "1.0.0"
    event = AuditEvent.objects.get(action="release.updated")
    assert event.project == rows.project


# --- teams ---------------------------------------------------------------------------------


def test_revoke_action_revokes_selected_keys(admin_client, rows):
    other = ApiKey.objects.exclude(pk=rows.api_key.pk).get()

    response = admin_client.post(
        _url(ApiKey, "changelist"),
        {"action": "revoke_keys", "_selected_action": [str(rows.api_key.pk)]},
    )

    assert response.status_code == 302
    rows.api_key.refresh_from_db()
    other.refresh_from_db()
    assert rows.api_key.revoked_at is not None
    assert rows.api_key.revoked_at <= timezone.now()
    assert other.revoked_at is None
    event = AuditEvent.objects.get(action="api_key.revoked")
    assert event.actor.username == "admin"


def test_api_keys_cannot_be_added_or_edited(admin_client, rows):
    assert admin_client.get(_url(ApiKey, "add")).status_code == 403
    response = admin_client.post(_url(ApiKey, "change", rows.api_key.pk), {"purpose": "changed"})
    assert response.status_code == 403


def test_audit_events_are_read_only(admin_client, rows):
    event = AuditEvent.objects.first()

    assert admin_client.get(_url(AuditEvent, "add")).status_code == 403
    assert admin_client.post(_url(AuditEvent, "change", event.pk), {}).status_code == 403
    assert admin_client.post(_url(AuditEvent, "delete", event.pk), {"post": "yes"}).status_code == 403
    response = admin_client.get(_url(AuditEvent, "changelist"), {"q": "deployment"})
    assert response.status_code == 200


def test_team_membership_change_is_audited(admin_client, rows):
    newcomer = User.objects.create_user("newcomer")
    members = [str(pk) for pk in rows.team.members.values_list("pk", flat=True)]
    grant = rows.team.roles.get()

    response = admin_client.post(
        _url(Team, "change", rows.team.pk),
        {
            "name": rows.team.name,
            "description": "",
            "members": [*members, str(newcomer.pk)],
            **_inline_management("roles", 1, initial=1),
            "roles-0-id": str(grant.pk),
            "roles-0-team": str(rows.team.pk),
            "roles-0-role": Role.DEPLOYER,
            "roles-0-environments": [str(rows.environments[0].pk)],
        },
    )

    assert response.status_code == 302
    assert rows.team.members.filter(pk=newcomer.pk).exists()
    event = AuditEvent.objects.get(action="team.updated")
    assert event.changes == {
        "members": [["user0", "user1", "user2"], ["newcomer", "user0", "user1", "user2"]]
    }


def test_password_change_is_audited_without_the_password(admin_client, rows):
    user = User.objects.get(username="user1")

    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"usable_password": "true", "password1": "An0ther-Passphrase", "password2": "An0ther-Passphrase"},
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("An0ther-Passphrase")
    event = AuditEvent.objects.get(action="user.password_changed", subject_id=str(user.pk))
    assert event.changes == {"password": "changed", "usable_password": [False, True]}
    assert event.actor.username == "admin"


def test_invalid_password_is_refused_on_the_page(admin_client, rows):
    user = User.objects.get(username="user1")

    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"usable_password": "true", "password1": "abc", "password2": "abc"},
    )

    assert response.status_code == 200
    assert "This password is too short." in response.content.decode()
    assert not AuditEvent.objects.filter(action="user.password_changed").exists()


def test_user_change_is_audited_with_old_and_new_values(admin_client, rows):
    user = User.objects.get(username="user1")

    response = admin_client.post(
        _url(User, "change", user.pk),
        {
            "display_name": "Sam",
            "first_name": "",
            "last_name": "",
            "email": "sam@example.com",
            "is_active": "on",
        },
        REMOTE_ADDR="10.1.2.3",
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert (user.display_name, user.email) == ("Sam", "sam@example.com")
    event = AuditEvent.objects.get(action="user.updated")
    assert event.changes == {"display_name": ["User 1", "Sam"], "email": ["", "sam@example.com"]}
    assert event.source_ip == "10.1.2.3"


def test_users_are_deactivated_not_deleted(admin_client, rows):
    user = User.objects.get(username="user1")

    response = admin_client.post(_url(User, "delete", user.pk), {"post": "yes"})

    assert response.status_code == 403
    assert User.objects.filter(pk=user.pk).exists()


def test_phase_removed_from_lifecycle_page_is_one_lifecycle_change(admin_client, rows):
    phases = rows.phases
    data = _lifecycle_post(
        "Standard",
        [
            {
                "id": str(phase.pk),
                "lifecycle": str(rows.lifecycle.pk),
                "name": phase.name,
                "position": str(phase.position),
                "rule": phase.rule,
                "minimum": "",
            }
            for phase in phases
        ],
    )
    data["phases-INITIAL_FORMS"] = "3"
    data["phases-2-DELETE"] = "on"

    response = admin_client.post(_url(Lifecycle, "change", rows.lifecycle.pk), data)

    assert response.status_code == 302
    assert list(rows.lifecycle.phases.values_list("name", flat=True)) == ["Development", "Test"]
    event = AuditEvent.objects.get(action="lifecycle.updated")
    before, after = event.changes["phases"]
    assert [phase["name"] for phase in before] == ["Development", "Test", "Production"]
    assert after == before[:2]


def test_name_taken_in_another_case_is_refused(admin_client, rows):
    response = admin_client.post(
        _url(Environment, "add"), {"name": "production", "slug": "production-2", "sort_order": "9"}
    )

    assert response.status_code == 200
    assert "An environment named production already exists." in response.content.decode()


def test_step_timeout_beyond_a_day_is_refused(admin_client, rows):
    response = admin_client.post(
        _url(Step, "add"),
        {
            "project": str(rows.project.pk),
            **_step_row(None, "Soak", "", kind=StepKind.SCRIPT, script="sleep 1", timeout_seconds="90000"),
        },
    )

    assert response.status_code == 200
    assert "Step Soak: A timeout is between 1 and 86400 seconds." in response.content.decode()


def test_new_minimum_phase_without_environments_is_refused_with_a_hint(admin_client, db):
    response = admin_client.post(
        _url(Lifecycle, "add"),
        _lifecycle_post(
            "Standard", [{"name": "Test", "position": "1", "rule": PhaseRule.MINIMUM, "minimum": "1"}]
        ),
    )

    assert response.status_code == 200
    assert "Add its environments on the phase&#x27;s page first." in response.content.decode()


def test_environment_in_use_by_a_role_grant_is_not_deleted(admin_client, rows):
    development = rows.environments[0]
    PhaseEnvironment.objects.filter(environment=development).delete()
    Deployment.objects.filter(environment=development).delete()

    response = admin_client.post(_url(Environment, "delete", development.pk), {"post": "yes"}, follow=True)

    assert Environment.objects.filter(pk=development.pk).exists()
    assert "role grants of DBA Team" in response.content.decode()
    assert not AuditEvent.objects.filter(action="environment.deleted").exists()


def test_unused_environment_is_deleted_and_audited(admin_client, rows):
    spare = Environment.objects.create(name="Spare", slug="spare")

    response = admin_client.post(_url(Environment, "delete", spare.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Environment.objects.filter(pk=spare.pk).exists()
    assert AuditEvent.objects.filter(action="environment.deleted", subject_id=str(spare.pk)).exists()


def test_project_in_a_grant_scope_is_not_deleted(admin_client, rows):
    project = Project.objects.create(
        name="Scratch", slug="scratch", group=rows.project.group, lifecycle=rows.lifecycle
    )
    rows.team.roles.get().projects.add(project)

    response = admin_client.post(_url(Project, "delete", project.pk), {"post": "yes"}, follow=True)

    assert Project.objects.filter(pk=project.pk).exists()
    assert "in the scope of role grants of DBA Team" in response.content.decode()


def test_team_responsible_for_a_step_is_not_deleted(admin_client, rows):
    response = admin_client.post(_url(Team, "delete", rows.team.pk), {"post": "yes"}, follow=True)

    assert Team.objects.filter(pk=rows.team.pk).exists()
    assert "DBA Team is responsible for" in response.content.decode()


def test_a_library_set_saved_in_the_admin_keeps_a_secret_left_empty_and_never_shows_it(admin_client, rows):
    library_set = LibraryVariableSet.objects.get()
    variable = library_set.variables.get()
    url = _url(LibraryVariableSet, "change", library_set.pk)
    page = admin_client.get(url).content.decode()
    assert ADMIN_SECRET not in page
    response = admin_client.post(
        url,
        {
            "name": "Shared mail",
            "description": "",
            **_inline_management("variables", 2, initial=1),
            "variables-0-id": variable.pk,
            "variables-0-library_set": library_set.pk,
            "variables-0-name": "Smtp.Password",
            "variables-0-new_value": "",
            "variables-0-sensitive": "on",
            "variables-0-environments": [rows.environments[2].pk],
            "variables-1-library_set": library_set.pk,
            "variables-1-name": "Smtp.Host",
            "variables-1-new_value": "smtp.example.com",
            "variables-1-roles": "mail, web",
        },
    )
    assert response.status_code == 302, response.content.decode()
    password, host = (library_set.variables.get(name=n) for n in ("Smtp.Password", "Smtp.Host"))
    assert password.plain_value() == ADMIN_SECRET
    assert host.value == "smtp.example.com" and host.roles == ["mail", "web"]
    event = AuditEvent.objects.get(action="library_set.updated")
    assert ADMIN_SECRET not in str(event.changes)


def test_a_freeze_is_saved_through_its_service_and_a_backwards_one_refused(admin_client, rows):
    from releases.models import Freeze

    data = {
        "name": "Year end",
        "reason": "Books close",
        "start_0": "2026-12-30",
        "start_1": "00:00:00",
        "end_0": "2026-12-29",
        "end_1": "00:00:00",
        "environments": [str(rows.environments[0].pk)],
    }
    refused = admin_client.post(_url(Freeze, "add"), data)
    assert refused.status_code == 200 and "A freeze ends after it starts" in refused.content.decode()
    response = admin_client.post(_url(Freeze, "add"), {**data, "end_0": "2027-01-02"})
    assert response.status_code == 302
    freeze = Freeze.objects.get(name="Year end")
    assert list(freeze.environments.all()) == [rows.environments[0]]
    assert AuditEvent.objects.filter(action="freeze.created", subject_id=str(freeze.pk)).exists()


def test_step_template_edits_raise_the_version_through_the_service(admin_client, db):
    template = StepTemplate.objects.get(name="HTTP health check")
    url = _url(StepTemplate, "change", template.pk)
    assert admin_client.get(url).status_code == 200
    form = {
        "name": template.name,
        "description": template.description,
        "kind": template.kind,
        "instructions": template.instructions,
        "script": template.script,
        "timeout_seconds": template.timeout_seconds,
        "parameters": json.dumps(template.parameters),
    }
    assert admin_client.post(url, form).status_code == 302
    template.refresh_from_db()
    assert template.version == 1
    assert not AuditEvent.objects.filter(action="step_template.updated").exists()

    assert admin_client.post(url, {**form, "timeout_seconds": 60}).status_code == 302
    template.refresh_from_db()
    assert (template.version, template.timeout_seconds) == (2, 60)
    assert AuditEvent.objects.get(action="step_template.updated").changes["version"] == [1, 2]

    response = admin_client.post(url, {**form, "script": "curl '#{Url}'"})
    assert response.status_code == 200
    assert "inside quotes" in response.content.decode()


def test_step_template_in_use_is_not_deleted_in_the_admin(admin_client, rows):
    template = StepTemplate.objects.get(name="Manual intervention")
    step_add_from_template(
        project=rows.project, template=template, parameters={"Instructions": "Do it."}, name="Do", actor=None
    )
    response = admin_client.post(_url(StepTemplate, "delete", template.pk), {"post": "yes"}, follow=True)
    assert "is used by steps of the projects" in response.content.decode()
    assert StepTemplate.objects.filter(pk=template.pk).exists()


def test_a_step_edited_in_the_admin_keeps_its_template_unless_its_script_changes(admin_client, rows):
    template = StepTemplate.objects.get(name="Manual intervention")
    step = step_add_from_template(
        project=rows.project, template=template, parameters={"Instructions": "Do it."}, name="Do", actor=None
    )
    url = _url(Step, "change", step.pk)
    form = {
        "name": "Do it now",
        "position": step.position,
        "kind": "manual",
        "enabled": "on",
        "run_condition": "success",
        "instructions": "Do it.",
        "script": "",
        "timeout_seconds": 600,
        "notify": "[]",
        "target_roles": "[]",
        "required_approvals": 1,
        "on_timeout": "abort",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    step = Step.objects.get(project=rows.project, name="Do it now")
    assert (step.template, step.parameters) == (template, {"Instructions": "Do it."})

    admin_client.post(_url(Step, "change", step.pk), {**form, "instructions": "Do it by hand."})
    step = Step.objects.get(project=rows.project, name="Do it now")
    assert (step.template, step.instructions) == (None, "Do it by hand.")
