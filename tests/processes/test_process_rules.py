"""The rules of a project's process, tested at the service level: which steps a process
may hold (``process_step_errors``), and what replacing it does (``process_replace``,
``process_summary``): order, audit trail, who may, and what releases keep."""

import pytest

from processes.choices import RunCondition, StepKind
from processes.models import Step
from processes.services import (
    MAX_TIMEOUT_SECONDS,
    StepSpec,
    process_replace,
    process_step_errors,
    process_summary,
)
from releases.services import release_create
from relman.exceptions import InvalidInput, PermissionRefused
from teams.models import AuditEvent, Team

EDITOR_REFUSAL = "You need the project editor role on Manual Deployment to change its process."


def three_steps() -> list[StepSpec]:
    return [
        StepSpec(name="Announce"),
        StepSpec(name="Deploy", kind=StepKind.SCRIPT, script="./deploy.sh", timeout_seconds=120),
        StepSpec(
            name="Roll back", kind=StepKind.SCRIPT, script="./rollback.sh", run_condition=RunCondition.FAILURE
        ),
    ]


def step_names(project) -> list[tuple[int, str]]:
    return list(Step.objects.filter(project=project).order_by("position").values_list("position", "name"))


def process_events():
    return AuditEvent.objects.filter(action="process.updated")


# --- process_step_errors -----------------------------------------------------------------


def test_valid_steps_have_no_errors(octopus):
    test, live = octopus.environments
    steps = [
        *three_steps(),
        StepSpec(name="Smoke test", environments=[test], excluded_environments=[live]),
        StepSpec(name="Cleanup", run_condition=RunCondition.ALWAYS),
    ]
    assert process_step_errors(steps) == {}


def test_step_names_are_unique_within_the_process():
    errors = process_step_errors([StepSpec(name="Deploy"), StepSpec(name="Check"), StepSpec(name=" Deploy ")])
    assert errors == {2: {"name": ["Another step is already named Deploy."]}}


def test_step_needs_a_name():
    assert process_step_errors([StepSpec(name="  ")]) == {0: {"name": ["A step needs a name."]}}


def test_unknown_kind_is_refused():
    assert process_step_errors([StepSpec(name="Deploy", kind="robot")]) == {
        0: {"kind": ["Unknown kind 'robot'; choose one of manual, script."]}
    }


def test_unknown_run_condition_is_refused():
    assert process_step_errors([StepSpec(name="Deploy", run_condition="sometimes")]) == {
        0: {"run_condition": ["Unknown run condition 'sometimes'; choose one of success, failure, always."]}
    }


@pytest.mark.parametrize("script", ["", "  \n\t"])
def test_script_step_without_a_script_is_refused(script):
    assert process_step_errors([StepSpec(name="Deploy", kind=StepKind.SCRIPT, script=script)]) == {
        0: {"script": ["A script step needs a script."]}
    }


def test_manual_step_needs_no_script():
    assert process_step_errors([StepSpec(name="Check", kind=StepKind.MANUAL, script="")]) == {}


@pytest.mark.parametrize("timeout", [1, MAX_TIMEOUT_SECONDS])
def test_timeout_from_one_second_to_a_day_is_accepted(timeout):
    assert MAX_TIMEOUT_SECONDS == 24 * 60 * 60
    assert process_step_errors([StepSpec(name="Deploy", timeout_seconds=timeout)]) == {}


@pytest.mark.parametrize("timeout", [0, -5, MAX_TIMEOUT_SECONDS + 1])
def test_timeout_outside_one_second_to_a_day_is_refused(timeout):
    assert process_step_errors([StepSpec(name="Deploy", timeout_seconds=timeout)]) == {
        0: {"timeout_seconds": ["A timeout is between 1 and 86400 seconds."]}
    }


def test_environment_both_included_and_excluded_is_refused(octopus):
    test, live = octopus.environments
    step = StepSpec(name="Smoke test", environments=[test, live], excluded_environments=[live])
    assert process_step_errors([step]) == {
        0: {"excluded_environments": ["Manual Live cannot be both included and excluded."]}
    }


def test_every_problem_of_every_step_is_reported_by_index_and_field():
    errors = process_step_errors(
        [
            StepSpec(name="Deploy"),
            StepSpec(name="Fine"),
            StepSpec(name="Deploy", kind=StepKind.SCRIPT, run_condition="maybe", timeout_seconds=0),
        ]
    )
    assert set(errors) == {2}
    assert set(errors[2]) == {"name", "run_condition", "script", "timeout_seconds"}


# --- process_replace and process_summary -------------------------------------------------


def test_process_replace_keeps_the_order_given_with_positions_from_one(octopus, edith):
    created = process_replace(project=octopus.project, steps=three_steps(), actor=edith)
    assert [(s.position, s.name) for s in created] == [(1, "Announce"), (2, "Deploy"), (3, "Roll back")]
    assert step_names(octopus.project) == [(1, "Announce"), (2, "Deploy"), (3, "Roll back")]

    process_replace(project=octopus.project, steps=list(reversed(three_steps())), actor=edith)
    assert step_names(octopus.project) == [(1, "Roll back"), (2, "Deploy"), (3, "Announce")]


def test_process_summary_is_the_document_with_slugs_and_team_names(octopus, edith):
    test, live = octopus.environments
    dba = Team.objects.get(name="DBA Team")
    steps = [
        StepSpec(
            name="Backup",
            instructions="Take a **backup**.",
            environments=[live],
            responsible_teams=[dba],
            block_deployments=True,
            prevent_self_approval=True,
            remind_after_minutes=30,
            notify=["dba-oncall@example.com"],
        ),
        StepSpec(name="Deploy", kind=StepKind.SCRIPT, script="./deploy.sh", excluded_environments=[test]),
    ]
    process_replace(project=octopus.project, steps=steps, actor=edith)
    assert process_summary(octopus.project) == [
        {
            "name": "Backup",
            "kind": "manual",
            "enabled": True,
            "environments": ["manual-live"],
            "excluded_environments": [],
            "run_condition": "success",
            "instructions": "Take a **backup**.",
            "responsible_teams": ["DBA Team"],
            "block_deployments": True,
            "prevent_self_approval": True,
            "script": "",
            "timeout_seconds": 600,
            "remind_after_minutes": 30,
            "notify": ["dba-oncall@example.com"],
            "target_roles": [],
            "required_approvals": 1,
            "timeout_minutes": None,
            "on_timeout": "abort",
            "template": None,
            "template_version": None,
            "parameters": None,
        },
        {
            "name": "Deploy",
            "kind": "script",
            "enabled": True,
            "environments": [],
            "excluded_environments": ["manual-test"],
            "run_condition": "success",
            "instructions": "",
            "responsible_teams": [],
            "block_deployments": False,
            "prevent_self_approval": False,
            "script": "./deploy.sh",
            "timeout_seconds": 600,
            "remind_after_minutes": None,
            "notify": [],
            "target_roles": [],
            "required_approvals": 1,
            "timeout_minutes": None,
            "on_timeout": "abort",
            "template": None,
            "template_version": None,
            "parameters": None,
        },
    ]


def test_process_replace_records_the_process_before_and_after(octopus, edith):
    before = process_summary(octopus.project)
    assert len(before) == 8
    process_replace(project=octopus.project, steps=three_steps(), actor=edith, source_ip="203.0.113.7")
    [event] = process_events()
    assert event.changes == {"steps": [before, process_summary(octopus.project)]}
    assert [s["name"] for s in event.changes["steps"][1]] == ["Announce", "Deploy", "Roll back"]
    assert (event.actor, event.project, event.subject_id) == (edith, octopus.project, str(octopus.project.pk))
    assert event.source_ip == "203.0.113.7"


def test_process_replace_with_the_same_steps_records_nothing(octopus, edith):
    process_replace(project=octopus.project, steps=three_steps(), actor=edith)
    step_ids = set(Step.objects.filter(project=octopus.project).values_list("pk", flat=True))
    process_replace(project=octopus.project, steps=three_steps(), actor=edith)
    assert process_events().count() == 1
    assert step_names(octopus.project) == [(1, "Announce"), (2, "Deploy"), (3, "Roll back")]
    assert not step_ids & set(Step.objects.filter(project=octopus.project).values_list("pk", flat=True))


@pytest.mark.parametrize("persona", ["sarah", "vera", "oscar", "gus"])
def test_process_replace_refused_without_the_project_editor_role(octopus, persona, request):
    """sarah deploys, vera views, oscar is in no team, gus edits GoodHealth only."""
    before = process_summary(octopus.project)
    with pytest.raises(PermissionRefused) as refused:
        process_replace(project=octopus.project, steps=three_steps(), actor=request.getfixturevalue(persona))
    assert str(refused.value) == EDITOR_REFUSAL
    assert process_summary(octopus.project) == before
    assert not process_events().exists()


@pytest.mark.parametrize("persona", ["edith", "root"])
def test_process_replace_allowed_for_a_project_editor_and_a_superuser(octopus, persona, request):
    process_replace(project=octopus.project, steps=three_steps(), actor=request.getfixturevalue(persona))
    assert len(process_summary(octopus.project)) == 3


def test_process_replace_refuses_invalid_steps_and_keeps_the_process(octopus, edith):
    before = process_summary(octopus.project)
    steps = [StepSpec(name="Announce"), StepSpec(name="Deploy", kind=StepKind.SCRIPT)]
    with pytest.raises(InvalidInput) as refused:
        process_replace(project=octopus.project, steps=steps, actor=edith)
    assert str(refused.value) == "Step 1: A script step needs a script."
    assert refused.value.code == "invalid_process"
    assert process_summary(octopus.project) == before
    assert not process_events().exists()


def test_release_created_before_keeps_its_snapshot(octopus, edith, root):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    checklist = [name for _, name in step_names(octopus.project)]
    process_replace(project=octopus.project, steps=three_steps(), actor=edith)

    snapshot = list(release.steps.order_by("position").values_list("position", "name"))
    assert snapshot == list(enumerate(checklist, start=1))
    assert release.steps.get(position=1).responsible_teams.get().name == "DBA Team"
    later = release_create(project=octopus.project, version="1.1.0", actor=root)
    assert list(later.steps.order_by("position").values_list("name", flat=True)) == [
        "Announce",
        "Deploy",
        "Roll back",
    ]


def test_changing_a_steps_environments_reaches_only_later_releases(octopus, edith, root):
    test, live = octopus.environments
    process_replace(project=octopus.project, steps=[StepSpec(name="Check", environments=[test])], actor=edith)
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    process_replace(project=octopus.project, steps=[StepSpec(name="Check", environments=[live])], actor=edith)
    assert list(release.steps.get().environments.all()) == [test]
    assert list(Step.objects.get(project=octopus.project).environments.all()) == [live]


def test_reminders_and_notify_addresses_are_checked(octopus):
    errors = process_step_errors(
        [StepSpec(name="Backup", remind_after_minutes=0, notify=["dba-oncall@example.com", "not an address"])]
    )
    assert errors == {
        0: {
            "remind_after_minutes": ["A reminder comes after 1 to 10080 minutes."],
            "notify": ["'not an address' is not an email address."],
        }
    }
