import pytest

from processes.models import Step
from releases.choices import DeploymentState, StepState
from releases.models import Deployment, Interruption
from releases.services import deployment_create, interruption_submit, interruption_take, release_create
from teams.models import AuditEvent

URL = "/api/v1/interruptions/"


def take(client, interruption, **data):
    return client.post(f"{URL}{interruption.pk}/take/", data, format="json")


def submit(client, interruption, **data):
    return client.post(f"{URL}{interruption.pk}/submit/", data, format="json")


# --- reading ----------------------------------------------------------------------------------


def test_detail_shape_exactly_as_specified(api, sarah, interruption):
    body = api(sarah).get(f"{URL}{interruption.pk}/").json()
    dba = interruption.responsible_teams.get()
    assert body == {
        "id": interruption.pk,
        "type": "manual_intervention",
        "title": "Backup the database",
        "instructions": interruption.instructions,
        "responsible_teams": [dba.pk],
        "assignee": None,
        "can_take": True,
        "pending": True,
        "result": "",
        "guidance": "",
        "notes": "",
        "submitted_by": None,
        "submitted_at": None,
        "deployment": interruption.deployment_id,
        "required_approvals": 1,
        "approvals": [],
        "due_at": None,
        "has_helper_script": False,
        "helper_runs": [],
        "helper_output": "",
    }
    assert body["instructions"].startswith("Take a full backup")
    assert "**Notes**" in body["instructions"]


@pytest.mark.parametrize(
    ("persona", "can_take"), [("sarah", True), ("olly", False), ("vera", False), ("root", False)]
)
def test_can_take_per_persona(api, request, interruption, persona, can_take):
    body = api(request.getfixturevalue(persona)).get(f"{URL}{interruption.pk}/").json()
    assert body["can_take"] is can_take


def test_detail_out_of_scope_is_404(api, oscar, interruption):
    assert api(oscar).get(f"{URL}{interruption.pk}/").status_code == 404


def test_list_filters_pending_mine_and_deployment(
    api, sarah, olly, vera, interruption, engine, root, release
):
    assert api(sarah).get(URL, {"pending": "true"}).json()["count"] == 1
    assert api(sarah).get(URL, {"mine": "true"}).json()["results"][0]["id"] == interruption.pk
    assert api(olly).get(URL, {"mine": "true"}).json()["count"] == 0
    assert api(vera).get(URL, {"mine": "true"}).json()["count"] == 0
    assert api(vera).get(URL).json()["count"] == 1
    assert api(sarah).get(URL, {"deployment": interruption.deployment_id}).json()["count"] == 1
    assert api(sarah).get(URL, {"deployment": interruption.deployment_id + 1000}).json()["count"] == 0
    with engine():
        interruption_submit(interruption=interruption, actor=sarah, result="proceed")
    assert api(sarah).get(URL, {"pending": "true"}).json()["count"] == 1  # the next step waits
    assert api(sarah).get(URL, {"pending": "false"}).json()["count"] == 1
    assert api(sarah).get(URL, {"mine": "true"}).json()["count"] == 1  # Upgrade the database, DBA again


def test_list_is_scoped(api, oscar, interruption):
    assert api(oscar).get(URL).json()["count"] == 0


def test_list_queries_do_not_grow_with_interruptions(
    api, sarah, octopus, root, engine, django_assert_max_num_queries
):
    Step.objects.filter(project=octopus.project).update(block_deployments=False)
    for n in range(4):
        with engine():
            release = release_create(project=octopus.project, version=f"1.{n}.0", actor=root)
            deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
        if n < 2:
            with engine():
                interruption = Interruption.objects.get(deployment=deployment, pending=True)
                interruption_submit(interruption=interruption, actor=sarah, result="proceed")
    assert Interruption.objects.count() == 6
    assert Interruption.objects.filter(pending=True).count() == 4
    client = api(sarah)
    for params in ({}, {"mine": "true"}, {"pending": "true"}):
        # 12: the answers (approvals) and the helper script's runs are a prefetch each,
        # whatever their number.
        with django_assert_max_num_queries(12):
            response = client.get(URL, params)
        assert response.status_code == 200
    assert client.get(URL, {"mine": "true"}).json()["count"] == 4


# --- take -------------------------------------------------------------------------------------


def test_member_of_responsible_team_takes(api, sarah, interruption):
    response = take(api(sarah), interruption)
    assert response.status_code == 200
    assert response.json()["assignee"] == "sarah"
    log = list(interruption.deployment.log_entries.values_list("message", flat=True))
    assert "Backup the database assigned to Sarah." in log
    event = AuditEvent.objects.get(action="interruption.taken")
    assert event.actor == sarah
    assert event.source_ip == "127.0.0.1"


def test_take_refused_for_member_of_other_team_naming_the_team(api, olly, interruption):
    response = take(api(olly), interruption)
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only members of DBA Team may take this step.",
        "code": "permission_denied",
    }
    interruption.refresh_from_db()
    assert interruption.assignee is None


def test_take_refused_for_viewer(api, vera, interruption):
    response = take(api(vera), interruption)
    assert response.status_code == 403
    assert "DBA Team" in response.json()["detail"]


def test_take_by_outsider_is_404(api, oscar, interruption):
    assert take(api(oscar), interruption).status_code == 404


def test_take_refused_for_superuser_without_override(api, root, interruption):
    response = take(api(root), interruption)
    assert response.status_code == 403
    assert response.json()["detail"] == "Only members of DBA Team may take this step."


def test_superuser_override_needs_a_reason(api, root, interruption):
    response = take(api(root), interruption, override=True)
    assert response.status_code == 400
    assert response.json()["code"] == "reason_required"
    response = take(api(root), interruption, override=True, reason="Sarah is on leave; change CHG-42.")
    assert response.status_code == 200
    assert response.json()["assignee"] == "root"
    log = list(interruption.deployment.log_entries.values_list("message", flat=True))
    assert any(m.startswith("OVERRIDE: Root (superuser, not in the responsible teams)") for m in log)
    assert AuditEvent.objects.get(action="interruption.overridden").changes["reason"] == (
        "Sarah is on leave; change CHG-42."
    )


def test_override_refused_for_non_superuser(api, olly, interruption):
    response = take(api(olly), interruption, override=True, reason="I know what I'm doing")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only a superuser may override the responsible teams."


def test_second_take_is_409_already_taken(api, sarah, interruption):
    from teams.models import Team, User

    dba2 = User.objects.create_user("dave", display_name="Dave")
    Team.objects.get(name="DBA Team").members.add(dba2)
    assert take(api(sarah), interruption).status_code == 200
    response = take(api(dba2), interruption)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Backup the database is already assigned to Sarah. Take it over to act instead of them.",
        "code": "already_taken",
    }
    response = take(api(dba2), interruption, take_over=True)
    assert response.status_code == 200
    assert response.json()["assignee"] == "dave"
    log = list(interruption.deployment.log_entries.values_list("message", flat=True))
    assert "Dave took over Backup the database from Sarah." in log


def test_taking_what_you_hold_changes_nothing(api, sarah, interruption):
    client = api(sarah)
    assert take(client, interruption).status_code == 200
    assert take(client, interruption).status_code == 200
    assert AuditEvent.objects.filter(action="interruption.taken").count() == 1


def test_take_submitted_interruption_is_409(api, sarah, interruption, engine):
    with engine():
        interruption_submit(interruption=interruption, actor=sarah, result="proceed")
    response = take(api(sarah), interruption)
    assert response.status_code == 409
    assert response.json()["code"] == "already_submitted"


def test_take_of_cancelled_deployment_is_409(api, sarah, olly, interruption):
    api(olly).post(f"/api/v1/deployments/{interruption.deployment_id}/cancel/")
    response = take(api(sarah), interruption)
    assert response.status_code == 409
    assert response.json()["code"] == "already_closed"


def test_prevent_self_approval_refuses_the_deployments_creator(api, sarah, octopus, root, engine):
    Step.objects.filter(project=octopus.project, position=1).update(prevent_self_approval=True)
    with engine():
        release = release_create(project=octopus.project, version="2.0.0", actor=root)
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=sarah)
    interruption = Interruption.objects.get(deployment=deployment, pending=True)
    response = take(api(sarah), interruption)
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "You created this deployment and this step prevents self-approval: another member of DBA Team must take it."
    )
    assert api(sarah).get(f"{URL}{interruption.pk}/").json()["can_take"] is False


def test_override_refused_for_the_superuser_who_created_the_deployment(api, root, interruption):
    Interruption.objects.filter(pk=interruption.pk).update(prevent_self_approval=True)
    Deployment.objects.filter(pk=interruption.deployment_id).update(created_by=root)
    response = take(api(root), interruption, override=True, reason="Sarah is on leave; change CHG-42.")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "You created this deployment and this step prevents self-approval: "
        "another member of DBA Team must take it.",
        "code": "permission_denied",
    }
    interruption.refresh_from_db()
    assert interruption.assignee is None


def test_take_with_non_boolean_is_400(api, sarah, interruption):
    response = take(api(sarah), interruption, take_over="perhaps")
    assert response.status_code == 400
    assert response.json()["errors"] == {"take_over": ["Must be a valid boolean."]}


# --- submit -----------------------------------------------------------------------------------


def test_assignee_proceeds_with_notes(api, sarah, interruption, engine):
    client = api(sarah)
    take(client, interruption)
    with engine():
        response = submit(client, interruption, result="proceed", notes="Backup `db-2026-03-03.bak`, 4.2 GB")
    assert response.status_code == 200
    body = response.json()
    assert body["pending"] is False
    assert body["result"] == "proceed"
    assert body["submitted_by"] == "sarah"
    assert body["notes"] == "Backup `db-2026-03-03.bak`, 4.2 GB"
    assert body["can_take"] is False
    deployment = interruption.deployment
    assert deployment.steps.get(position=1).state == StepState.SUCCESS
    next_one = Interruption.objects.get(deployment=deployment, pending=True)
    assert next_one.title == "Upgrade the database"


def test_submit_without_take_by_eligible_user_takes_and_submits(api, sarah, interruption, engine):
    with engine():
        response = submit(api(sarah), interruption, result="proceed", notes="done")
    assert response.status_code == 200
    assert response.json()["assignee"] == "sarah"
    assert response.json()["submitted_by"] == "sarah"
    events = AuditEvent.objects.filter(subject_type="releases.interruption", subject_id=str(interruption.pk))
    actions = list(events.values_list("action", flat=True))
    assert sorted(actions) == ["interruption.submitted", "interruption.taken"]


def test_submit_without_take_refused_for_member_of_other_team(api, olly, interruption):
    response = submit(api(olly), interruption, result="proceed")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only members of DBA Team may take this step."
    interruption.refresh_from_db()
    assert interruption.pending and interruption.assignee is None


def test_submit_refused_for_viewer_and_superuser(api, vera, root, interruption):
    assert submit(api(vera), interruption, result="proceed").status_code == 403
    assert submit(api(root), interruption, result="proceed").status_code == 403


def test_submit_by_outsider_is_404(api, oscar, interruption):
    assert submit(api(oscar), interruption, result="proceed").status_code == 404


def test_submit_of_one_held_by_another_is_409(api, sarah, interruption):
    from teams.models import Team, User

    dave = User.objects.create_user("dave", display_name="Dave")
    Team.objects.get(name="DBA Team").members.add(dave)
    take(api(sarah), interruption)
    response = submit(api(dave), interruption, result="proceed")
    assert response.status_code == 409
    assert response.json()["code"] == "assigned_to_other"


def test_second_submit_is_409_already_submitted(api, sarah, interruption, engine):
    client = api(sarah)
    with engine():
        assert submit(client, interruption, result="proceed").status_code == 200
    response = submit(client, interruption, result="abort")
    assert response.status_code == 409
    assert response.json()["code"] == "already_submitted"
    assert response.json()["detail"].startswith("Backup the database was already submitted by Sarah at ")


def test_oversized_notes_are_400_and_change_nothing(api, sarah, interruption):
    client = api(sarah)
    events_before = AuditEvent.objects.count()
    log_before = interruption.deployment.log_entries.count()
    response = submit(client, interruption, result="proceed", notes="x" * 20_001)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "notes: Notes are limited to 20,000 characters.",
        "code": "invalid",
        "errors": {"notes": ["Notes are limited to 20,000 characters."]},
    }
    interruption.refresh_from_db()
    assert interruption.pending and interruption.assignee is None and interruption.notes == ""
    assert AuditEvent.objects.count() == events_before
    assert interruption.deployment.log_entries.count() == log_before


def test_notes_at_the_limit_are_accepted(api, sarah, interruption, engine):
    with engine():
        response = submit(api(sarah), interruption, result="proceed", notes="x" * 20_000)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({}, "invalid_result"),
        ({"guidance": "retry"}, "invalid_result"),
        ({"result": "proceed", "guidance": "retry"}, "invalid_result"),
    ],
)
def test_wrong_answer_for_a_manual_intervention_is_400(api, sarah, interruption, data, code):
    response = submit(api(sarah), interruption, **data)
    assert response.status_code == 400
    assert response.json()["code"] == code
    interruption.refresh_from_db()
    assert interruption.pending


def test_unknown_result_is_400(api, sarah, interruption):
    response = submit(api(sarah), interruption, result="maybe")
    assert response.status_code == 400
    assert response.json()["errors"] == {"result": ['"maybe" is not a valid choice.']}


def test_abort_fails_the_deployment(api, sarah, interruption, engine):
    with engine():
        response = submit(api(sarah), interruption, result="abort", notes="Backup server is down.")
    assert response.status_code == 200
    deployment = Deployment.objects.get(pk=interruption.deployment_id)
    assert deployment.state == DeploymentState.FAILED
    assert deployment.steps.get(position=1).state == StepState.ABORTED


def test_guided_failure_is_answered_with_guidance(api, goodhealth, root, engine):
    admin_ops = goodhealth.users["admin-ops"]
    goodhealth.project.guided_failure = True
    goodhealth.project.save(update_fields=["guided_failure"])
    Step.objects.filter(project=goodhealth.project, name="Build check").update(script="exit 3\n")
    with engine():
        release = release_create(project=goodhealth.project, version="9.0.0", actor=root)
        deployment = deployment_create(release=release, environment=goodhealth.environments[0], actor=root)
    failure = Interruption.objects.get(deployment=deployment, pending=True)
    assert failure.type == "guided_failure"
    client = api(admin_ops)
    assert client.get(f"{URL}{failure.pk}/").json()["type"] == "guided_failure"
    response = submit(client, failure, result="proceed")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_guidance"
    with engine():
        response = submit(client, failure, guidance="ignore", notes="Known flaky check.")
    assert response.status_code == 200
    assert response.json()["guidance"] == "ignore"
    migrate = Interruption.objects.get(deployment=deployment, pending=True)
    assert migrate.title == "Migrate Data"


def test_interruption_take_service_and_api_agree(api, sarah, interruption):
    interruption_take(interruption=interruption, actor=sarah)
    assert api(sarah).get(f"{URL}{interruption.pk}/").json()["assignee"] == "sarah"
