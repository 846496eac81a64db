import pytest
import yaml

from processes.models import Project, ProjectGroup, Step
from teams.models import AuditEvent, Team

URL = "/api/v1/projects/"
MD = f"{URL}manual-deployment/"
PROCESS = f"{MD}process/"

# --- projects ---------------------------------------------------------------------------------


def test_list_is_scoped_to_what_the_caller_sees(api, sarah, oscar, root, goodhealth):
    assert [p["slug"] for p in api(sarah).get(URL).json()["results"]] == ["goodhealth", "manual-deployment"]
    assert api(oscar).get(URL).json() == {"count": 0, "next": None, "previous": None, "results": []}
    assert api(root).get(URL).json()["count"] == 2


def test_list_scoped_by_project_grant(api, root, octopus, goodhealth):
    from teams.models import RoleGrant, User

    paula = User.objects.create_user("paula")
    team = Team.objects.create(name="GoodHealth Viewers")
    team.members.add(paula)
    RoleGrant.objects.create(team=team, role="viewer").projects.add(goodhealth.project)
    assert [p["slug"] for p in api(paula).get(URL).json()["results"]] == ["goodhealth"]
    assert api(paula).get(MD).status_code == 404


def test_detail_shape(api, vera, octopus):
    body = api(vera).get(MD).json()
    assert body == {
        "name": "Manual Deployment",
        "slug": "manual-deployment",
        "group": ProjectGroup.objects.get(name="Default Project Group").pk,
        "lifecycle": octopus.project.lifecycle_id,
        "description": "The manual deployment checklist, tracked step by step.",
        "disabled": False,
        "guided_failure": False,
    }


def test_detail_out_of_scope_is_404_not_403(api, oscar, octopus):
    response = api(oscar).get(MD)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_superuser_creates_project_in_default_group_with_derived_slug(api, root, octopus):
    data = {"name": "Billing Service", "lifecycle": octopus.project.lifecycle_id}
    response = api(root).post(URL, data)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "billing-service"
    assert body["group"] == ProjectGroup.objects.get(name="Default Project Group").pk
    assert AuditEvent.objects.get(action="project.created").project.slug == "billing-service"


@pytest.mark.parametrize("persona", ["sarah", "vera", "oscar", "edith", "rick"])
def test_create_project_refused_for_non_superusers(api, request, persona, octopus):
    response = api(request.getfixturevalue(persona)).post(
        URL, {"name": "Sneaky", "lifecycle": octopus.project.lifecycle_id}
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "Only superusers may create projects."
    assert not Project.objects.filter(name="Sneaky").exists()


def test_create_project_with_unknown_lifecycle_or_group_is_400(api, root, octopus):
    response = api(root).post(URL, {"name": "X", "lifecycle": 999})
    assert response.status_code == 400
    assert response.json()["errors"] == {"lifecycle": ["Unknown lifecycle id 999."]}
    response = api(root).post(URL, {"name": "X", "lifecycle": octopus.project.lifecycle_id, "group": 999})
    assert response.json()["errors"] == {"group": ["Unknown project group id 999."]}


def test_create_project_with_taken_name_is_409(api, root, octopus):
    response = api(root).post(URL, {"name": "Manual Deployment", "lifecycle": octopus.project.lifecycle_id})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "A project named Manual Deployment already exists.",
        "code": "duplicate_name",
    }


def test_project_editor_patches_guided_failure(api, edith, octopus):
    response = api(edith).patch(MD, {"guided_failure": True}, format="json")
    assert response.status_code == 200
    assert response.json()["guided_failure"] is True
    octopus.project.refresh_from_db()
    assert octopus.project.guided_failure is True
    event = AuditEvent.objects.get(action="project.updated")
    assert event.actor == edith
    assert event.changes == {"guided_failure": ["False", "True"]}


@pytest.mark.parametrize("persona", ["sarah", "vera", "rick"])
def test_patch_refused_for_visible_non_editors(api, request, persona, octopus):
    response = api(request.getfixturevalue(persona)).patch(MD, {"disabled": True}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "You need the project editor role on Manual Deployment to change it."
    assert not Project.objects.get(slug="manual-deployment").disabled


def test_patch_by_outsider_is_404(api, oscar, octopus):
    assert api(oscar).patch(MD, {"disabled": True}, format="json").status_code == 404


def test_put_on_a_project_is_not_allowed(api, root, octopus):
    assert api(root).put(MD, {"name": "X"}, format="json").status_code == 405


# --- process ----------------------------------------------------------------------------------


def test_process_document_in_order(api, vera, octopus):
    dba, ops = Team.objects.get(name="DBA Team"), Team.objects.get(name="Ops Team")
    steps = api(vera).get(PROCESS).json()["steps"]
    assert [s["name"] for s in steps][:3] == [
        "Backup the database",
        "Upgrade the database",
        "Copy the new application to a temporary folder on the server",
    ]
    assert len(steps) == 8
    assert steps[0] == {
        "name": "Backup the database",
        "kind": "manual",
        "enabled": True,
        "environments": [],
        "excluded_environments": [],
        "run_condition": "success",
        "instructions": steps[0]["instructions"],
        "responsible_teams": [dba.pk],
        "block_deployments": True,
        "prevent_self_approval": False,
        "script": "",
        "timeout_seconds": 600,
        "remind_after_minutes": None,
        "notify": [],
        "target_roles": [],
        "required_approvals": 1,
        "timeout_minutes": None,
        "on_timeout": "abort",
        "automation_level": 1,
        "template": None,
        "template_version": None,
        "parameters": None,
    }
    assert steps[2]["responsible_teams"] == [ops.pk]
    assert steps[2]["block_deployments"] is False


def test_process_out_of_scope_is_404(api, oscar, octopus):
    assert api(oscar).get(PROCESS).status_code == 404
    assert api(oscar).put(PROCESS, {"steps": []}, format="json").status_code == 404


def new_process(dba_id: int):
    return {
        "steps": [
            {"name": "Build check", "kind": "script", "script": "echo ok\n", "timeout_seconds": 30},
            {
                "name": "Backup the database",
                "instructions": "Back it **up**.",
                "responsible_teams": [dba_id],
                "environments": ["manual-live"],
                "block_deployments": True,
                "prevent_self_approval": True,
            },
            {"name": "Clean up", "kind": "script", "script": "true", "run_condition": "always"},
        ]
    }


def test_project_editor_replaces_process(api, edith, octopus):
    dba = Team.objects.get(name="DBA Team")
    response = api(edith).put(PROCESS, new_process(dba.pk), format="json")
    assert response.status_code == 200, response.json()
    steps = response.json()["steps"]
    assert [s["name"] for s in steps] == ["Build check", "Backup the database", "Clean up"]
    assert steps[1]["environments"] == ["manual-live"]
    assert steps[1]["prevent_self_approval"] is True
    assert steps[2]["run_condition"] == "always"
    assert list(Step.objects.filter(project=octopus.project).values_list("position", flat=True)) == [1, 2, 3]
    event = AuditEvent.objects.get(action="process.updated")
    assert event.actor == edith
    assert len(event.changes["steps"][0]) == 8 and len(event.changes["steps"][1]) == 3


def test_replaced_process_affects_only_future_releases(api, edith, root, release):
    dba = Team.objects.get(name="DBA Team")
    api(edith).put(PROCESS, new_process(dba.pk), format="json")
    assert release.steps.count() == 8
    created = api(root).post(f"{MD}releases/", {"version": "1.1.0"}).json()
    from releases.models import Release

    assert Release.objects.get(pk=created["id"]).steps.count() == 3


@pytest.mark.parametrize("persona", ["sarah", "vera", "rick"])
def test_put_process_refused_for_non_editors(api, request, persona, octopus):
    response = api(request.getfixturevalue(persona)).put(PROCESS, {"steps": []}, format="json")
    assert response.status_code == 403
    assert Step.objects.filter(project=octopus.project).count() == 8


def test_unknown_team_points_at_step_index_and_field(api, edith, octopus):
    dba = Team.objects.get(name="DBA Team")
    data = new_process(dba.pk)
    data["steps"][2]["responsible_teams"] = [99]
    response = api(edith).put(PROCESS, data, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {"steps[2].responsible_teams": ["Unknown team id 99."]}
    assert body["code"] == "invalid"
    assert body["detail"] == "steps[2].responsible_teams: Unknown team id 99."
    assert Step.objects.filter(project=octopus.project).count() == 8


def test_process_rules_point_at_step_index(api, edith, octopus):
    data = {
        "steps": [
            {"name": "Same"},
            {"name": "Same"},
            {"name": "Empty script", "kind": "script"},
            {"name": "Both", "environments": ["manual-test"], "excluded_environments": ["manual-test"]},
            {"name": "Where", "environments": ["atlantis"]},
        ]
    }
    response = api(edith).put(PROCESS, data, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"steps[4].environments": ["Unknown environment atlantis."]}
    del data["steps"][4]
    response = api(edith).put(PROCESS, data, format="json")
    assert response.json()["errors"] == {
        "steps[1].name": ["Another step is already named Same."],
        "steps[2].script": ["A script step needs a script."],
        "steps[3].excluded_environments": ["Manual Test cannot be both included and excluded."],
    }


def test_process_without_steps_key_is_400(api, edith, octopus):
    response = api(edith).put(PROCESS, {"stages": []}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"steps": ["This field is required."]}


def test_process_as_yaml_round_trip(api, edith, octopus):
    client = api(edith)
    response = client.get(PROCESS, HTTP_ACCEPT="application/yaml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/yaml")
    document = yaml.safe_load(response.content)
    assert document["steps"][0]["name"] == "Backup the database"

    document["steps"] = document["steps"][:2]
    document["steps"][1]["name"] = "Upgrade the schema"
    response = client.put(
        PROCESS, yaml.safe_dump(document), content_type="application/yaml", HTTP_ACCEPT="application/yaml"
    )
    assert response.status_code == 200, response.content
    assert [s["name"] for s in yaml.safe_load(response.content)["steps"]] == [
        "Backup the database",
        "Upgrade the schema",
    ]


def test_malformed_yaml_is_400(api, edith, octopus):
    response = api(edith).put(PROCESS, "steps: [unclosed", content_type="application/yaml")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert Step.objects.filter(project=octopus.project).count() == 8
