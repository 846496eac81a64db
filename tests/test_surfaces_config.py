"""One write path per verb: a configuration change writes the same audit event, with the
same action and the same ``{field: [old, new]}`` changes, whether it is made in the admin
or through the API (there is no other page that edits teams or processes)."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from processes.services import process_summary
from teams.models import AuditEvent, Team, User
from teams.services import api_key_create

SURFACES = ["admin", "api"]


def _api(user: User) -> APIClient:
    client = APIClient()
    _, key = api_key_create(user=user, purpose="tests", actor=None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _admin(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _management(prefix: str, total: int) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(total),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def _ids(objects) -> list[str]:
    return [str(obj.pk) for obj in objects]


# --- team edit: rename and a new member ---------------------------------------------------


def _rename_team_in_admin(root: User, team: Team, name: str, members: list[User]) -> int:
    data = {"name": name, "description": team.description, "members": _ids(members)}
    grants = list(team.roles.all())
    data.update(_management("roles", len(grants)))
    for index, grant in enumerate(grants):
        prefix = f"roles-{index}"
        data[f"{prefix}-id"] = str(grant.pk)
        data[f"{prefix}-team"] = str(team.pk)
        data[f"{prefix}-role"] = grant.role
        data[f"{prefix}-project_groups"] = _ids(grant.project_groups.all())
        data[f"{prefix}-projects"] = _ids(grant.projects.all())
        data[f"{prefix}-environments"] = _ids(grant.environments.all())
    response = _admin(root).post(reverse("admin:teams_team_change", args=[team.pk]), data)
    return response.status_code


def _rename_team_through_api(root: User, team: Team, name: str, members: list[User]) -> int:
    response = _api(root).patch(
        f"/api/v1/teams/{team.pk}/", {"name": name, "members": [m.username for m in members]}, format="json"
    )
    return response.status_code


@pytest.mark.parametrize("surface", SURFACES)
def test_team_rename_and_new_member_write_the_same_event_everywhere(surface, root, sarah, olly):
    team = Team.objects.get(name="DBA Team")
    edit = {"admin": _rename_team_in_admin, "api": _rename_team_through_api}[surface]

    status = edit(root, team, "Database Team", [sarah, olly])

    assert status in (200, 302)
    team.refresh_from_db()
    assert team.name == "Database Team"
    assert set(team.members.all()) == {sarah, olly}
    event = AuditEvent.objects.get(subject_type="teams.team", subject_id=str(team.pk))
    assert event.action == "team.updated"
    assert event.actor == root
    assert event.changes == {
        "name": ["DBA Team", "Database Team"],
        "members": [["sarah"], ["olly", "sarah"]],
    }


# --- process edit: one step renamed, one removed -------------------------------------------


def _edit_process_in_admin(root: User, project, steps: list[dict]) -> int:
    data = {
        "name": project.name,
        "slug": project.slug,
        "group": str(project.group_id),
        "lifecycle": str(project.lifecycle_id),
        "description": project.description,
        **_management("steps", len(steps)),
    }
    stored = list(project.steps.order_by("position"))
    for index, (step, wanted) in enumerate(zip(stored, steps, strict=True)):
        prefix = f"steps-{index}"
        data.update(
            {
                f"{prefix}-id": str(step.pk),
                f"{prefix}-project": str(project.pk),
                f"{prefix}-name": wanted["name"],
                f"{prefix}-position": str(step.position),
                f"{prefix}-kind": step.kind,
                f"{prefix}-run_condition": step.run_condition,
                f"{prefix}-instructions": step.instructions,
                f"{prefix}-responsible_teams": _ids(step.responsible_teams.all()),
                f"{prefix}-script": step.script,
                f"{prefix}-timeout_seconds": str(step.timeout_seconds),
                f"{prefix}-required_approvals": str(step.required_approvals),
                f"{prefix}-on_timeout": step.on_timeout,
            }
        )
        for flag in ("enabled", "block_deployments", "prevent_self_approval"):
            if getattr(step, flag):
                data[f"{prefix}-{flag}"] = "on"
        if wanted.get("DELETE"):
            data[f"{prefix}-DELETE"] = "on"
    response = _admin(root).post(reverse("admin:processes_project_change", args=[project.pk]), data)
    return response.status_code


def _edit_process_through_api(root: User, project, steps: list[dict]) -> int:
    client = _api(root)
    url = f"/api/v1/projects/{project.slug}/process/"
    document = client.get(url).json()["steps"]
    kept = [
        {**step, "name": wanted["name"]}
        for step, wanted in zip(document, steps, strict=True)
        if not wanted.get("DELETE")
    ]
    return client.put(url, {"steps": kept}, format="json").status_code


@pytest.mark.parametrize("surface", SURFACES)
def test_process_edit_writes_the_same_event_everywhere(surface, root, octopus):
    project = octopus.project
    before = process_summary(project)
    wanted = [{"name": step["name"]} for step in before]
    wanted[1]["DELETE"] = True
    wanted[7]["name"] = "Smoke test the application"
    edit = {"admin": _edit_process_in_admin, "api": _edit_process_through_api}[surface]

    status = edit(root, project, wanted)

    assert status in (200, 302)
    after = [
        {**step, "name": "Smoke test the application"} if n == 7 else step for n, step in enumerate(before)
    ]
    del after[1]
    assert list(project.steps.values_list("name", "position")) == [
        (step["name"], position) for position, step in enumerate(after, start=1)
    ]
    event = AuditEvent.objects.get(project=project)
    assert event.action == "process.updated"
    assert event.actor == root
    assert event.changes == {"steps": [before, after]}
