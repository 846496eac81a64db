"""The automation ladder through the API (SPEC §11): the level in the process document,
checklist import and "Automate this step", each refusal tried."""

import pytest

from processes.models import Step
from processes.services import project_create
from releases.services import release_create
from teams.models import AuditEvent, Team
from tests.processes.test_checklist import SEED_TABLE

MD = "/api/v1/projects/manual-deployment/"
PROCESS = f"{MD}process/"
IMPORT = f"{MD}process/import-checklist/"
LAST_STEP = "Check the application loads as expected"


def automate(position: int) -> str:
    return f"{PROCESS}steps/{position}/automate/"


def give_helper_script(octopus, name: str = LAST_STEP, script: str = "curl -fsS http://app/healthz") -> Step:
    step = Step.objects.get(project=octopus.project, name=name)
    step.script = script
    step.save(update_fields=["script"])
    return step


# --- the level --------------------------------------------------------------------------------


def test_levels_are_derived_and_read_only_in_the_document(api, edith, octopus):
    give_helper_script(octopus, script="   ")
    assert {s["automation_level"] for s in api(edith).get(PROCESS).json()["steps"]} == {1}
    give_helper_script(octopus)
    document = api(edith).get(PROCESS).json()
    assert [s["automation_level"] for s in document["steps"]] == [1] * 7 + [2]
    document["steps"][0]["automation_level"] = 3
    assert api(edith).put(PROCESS, document, format="json").status_code == 200
    assert [s["automation_level"] for s in api(edith).get(PROCESS).json()["steps"]] == [1] * 7 + [2]


# --- checklist import -------------------------------------------------------------------------


@pytest.fixture
def new_project(octopus, root):
    return project_create(name="Pasted", lifecycle=octopus.project.lifecycle, actor=root)


def test_the_seed_table_pasted_into_a_new_project_gives_eight_steps_for_three_teams(
    api, edith, new_project, django_assert_max_num_queries
):
    dba, ops, test = (Team.objects.get(name=f"{n} Team") for n in ("DBA", "Ops", "Test"))
    url = f"/api/v1/projects/{new_project.slug}/process/import-checklist/"
    client = api(edith)
    with django_assert_max_num_queries(12):
        preview = client.post(url, {"markdown": SEED_TABLE, "dry_run": True}, format="json")
    assert preview.status_code == 200, preview.json()
    assert preview.json()["unmatched"] == []
    assert [s["responsible_teams"] for s in preview.json()["steps"]] == [[dba.pk]] * 2 + [[ops.pk]] * 5 + [
        [test.pk]
    ]
    assert not new_project.steps.exists()

    response = client.post(url, {"markdown": SEED_TABLE}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["steps"] == preview.json()["steps"]
    steps = list(new_project.steps.order_by("position"))
    assert [s.name for s in steps][:2] == ["Backup the database", "Upgrade the database"]
    assert all(s.kind == "manual" and s.automation_level == 1 for s in steps) and len(steps) == 8
    assert steps[7].responsible_teams.get() == test
    assert AuditEvent.objects.filter(action="process.updated", project_id=new_project.pk).count() == 1


def test_unmatched_names_are_listed_and_teams_made_only_when_a_superuser_asks(api, edith, root, new_project):
    url = f"/api/v1/projects/{new_project.slug}/process/import-checklist/"
    markdown = "1. Backup the database (dba)\n2. Sign off (Release Board)\n3. Tell everyone (release board)\n"
    preview = api(edith).post(url, {"markdown": markdown, "dry_run": True}, format="json").json()
    assert preview["unmatched"] == ["Release Board"]
    assert preview["steps"][1]["responsible_teams"] == []

    refused = api(edith).post(url, {"markdown": markdown, "create_missing_teams": True}, format="json")
    assert refused.status_code == 403
    assert "Only superusers may create teams" in refused.json()["detail"]
    assert "Release Board" in refused.json()["detail"]
    assert not Team.objects.filter(name__iexact="Release Board").exists() and not new_project.steps.exists()

    done = api(root).post(url, {"markdown": markdown, "create_missing_teams": True}, format="json")
    assert done.status_code == 200, done.json()
    board = Team.objects.get(name="Release Board")
    assert done.json()["unmatched"] == []
    assert [s.responsible_teams.get() for s in new_project.steps.order_by("position")][1:] == [board, board]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"markdown": "We deploy on Fridays."}, "numbered list"),
        ({"markdown": "".join(f"- Step {n}\n" for n in range(201))}, "at most 200 steps"),
        ({"markdown": ""}, "markdown"),
        ({"dry_run": True}, "markdown"),
    ],
)
def test_bad_checklists_are_400_saying_why(api, edith, octopus, body, needle):
    response = api(edith).post(IMPORT, body, format="json")
    assert response.status_code == 400
    assert needle in str(response.json())
    assert Step.objects.filter(project=octopus.project).count() == 8


def test_import_is_for_project_editors_in_scope(api, vera, oscar, octopus):
    body = {"markdown": "- One", "dry_run": True}
    assert api(vera).post(IMPORT, body, format="json").status_code == 403
    assert api(oscar).post(IMPORT, body, format="json").status_code == 404


# --- automate this step -----------------------------------------------------------------------


def test_automate_with_keep_check_makes_a_script_step_and_a_check_for_future_releases(
    api, edith, root, octopus
):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    give_helper_script(octopus)
    test_team = Team.objects.get(name="Test Team")
    response = api(edith).post(automate(8), {"keep_check": True}, format="json")
    assert response.status_code == 200, response.json()
    steps = response.json()["steps"]
    assert len(steps) == 9
    script, check = steps[7], steps[8]
    assert (script["name"], script["kind"], script["automation_level"]) == (LAST_STEP, "script", 3)
    assert script["script"] == "curl -fsS http://app/healthz"
    assert (check["name"], check["kind"], check["automation_level"]) == (f"Check: {LAST_STEP}", "manual", 1)
    assert check["responsible_teams"] == [test_team.pk]
    assert f"**{LAST_STEP}** now runs by itself" in check["instructions"]
    assert [s.kind for s in release.steps.order_by("position")][-1] == "manual"
    event = AuditEvent.objects.get(action="process.step_automated")
    assert event.changes == {"step": LAST_STEP, "position": 8, "keep_check": True}


def test_automate_without_keep_check_keeps_the_process_length(api, edith, octopus):
    give_helper_script(octopus)
    steps = api(edith).post(automate(8), {}, format="json").json()["steps"]
    assert [s["automation_level"] for s in steps] == [1] * 7 + [3]


def test_an_automated_step_keeps_the_target_roles_its_helper_script_ran_on(api, edith, octopus):
    step = give_helper_script(octopus)
    step.target_roles = ["web"]
    step.save(update_fields=["target_roles"])
    steps = api(edith).post(automate(8), {"keep_check": True}, format="json").json()["steps"]
    assert (steps[7]["kind"], steps[7]["target_roles"]) == ("script", ["web"])
    assert steps[8]["target_roles"] == []


def test_automate_is_refused_with_the_reason(api, edith, vera, oscar, octopus):
    first = api(edith).post(automate(1), {"keep_check": True}, format="json")
    assert first.status_code == 409
    assert first.json()["code"] == "not_automatable"
    assert "rung 1" in first.json()["detail"] and "no helper script" in first.json()["detail"]
    give_helper_script(octopus)
    api(edith).post(automate(8), {}, format="json")
    again = api(edith).post(automate(8), {}, format="json")
    assert again.status_code == 409 and "script step already" in again.json()["detail"]
    missing = api(edith).post(automate(9), {}, format="json")
    assert missing.status_code == 400 and "no step 9" in missing.json()["detail"]
    assert api(edith).post(automate(8), {"keep_check": "perhaps"}, format="json").status_code == 400
    assert api(vera).post(automate(8), {}, format="json").status_code == 403
    assert api(oscar).post(automate(8), {}, format="json").status_code == 404


# --- the whole ladder, as a team would climb it -------------------------------------------------


def _deploy(client, slug: str, version: str) -> dict:
    release = client.post(f"/api/v1/projects/{slug}/releases/", {"version": version}, format="json")
    assert release.status_code == 201, release.json()
    deployment = client.post(
        f"/api/v1/releases/{release.json()['id']}/deployments/", {"environment": "manual-test"}, format="json"
    )
    assert deployment.status_code == 201, deployment.json()
    return deployment.json()


def _pending(client, deployment: int) -> dict | None:
    found = client.get("/api/v1/interruptions/", {"deployment": deployment, "pending": "true"}).json()
    return found["results"][0] if found["results"] else None


def test_a_pasted_checklist_is_deployed_then_its_last_step_climbs_to_rung_3(
    api, edith, root, octopus, new_project, engine
):
    """Rung 1: the seed's checklist pasted and deployed, each team answering its steps.
    Rung 2: a helper script for the last step, run by Tina, its output her notes.
    Rung 3: the step automated with a check kept; the next release runs it by itself."""
    editor, admin = api(edith), api(root)
    people = {name: api(octopus.users[name]) for name in ("sarah", "olly", "tina")}
    by_team = {"DBA Team": "sarah", "Ops Team": "olly", "Test Team": "tina"}
    teams = {t.pk: t.name for t in Team.objects.all()}
    slug = new_project.slug
    url = f"/api/v1/projects/{slug}/process/"
    assert editor.post(f"{url}import-checklist/", {"markdown": SEED_TABLE}, format="json").status_code == 200

    def answer_all(deployment: int) -> list[str]:
        answered = []
        while (interruption := _pending(admin, deployment)) is not None:
            person = people[by_team[teams[interruption["responsible_teams"][0]]]]
            with engine():
                response = person.post(
                    f"/api/v1/interruptions/{interruption['id']}/submit/",
                    {"result": "proceed", "notes": f"{interruption['title']}: done"},
                    format="json",
                )
            assert response.status_code == 200, response.json()
            answered.append(interruption["title"])
        return answered

    with engine():
        first = _deploy(admin, slug, "1.0.0")
    assert len(answer_all(first["id"])) == 8
    assert admin.get(f"/api/v1/deployments/{first['id']}/").json()["state"] == "success"

    document = editor.get(url).json()
    last = document["steps"][7]
    last["script"] = "echo 'GET /healthz: 200 ok'"
    assert editor.put(url, document, format="json").status_code == 200
    assert [s["automation_level"] for s in editor.get(url).json()["steps"]] == [1] * 7 + [2]
    with engine():
        second = _deploy(admin, slug, "1.1.0")
    while (interruption := _pending(admin, second["id"]))["title"] != LAST_STEP:
        with engine():
            person = people[by_team[teams[interruption["responsible_teams"][0]]]]
            person.post(
                f"/api/v1/interruptions/{interruption['id']}/submit/", {"result": "proceed"}, format="json"
            )
    tina = people["tina"]
    tina.post(f"/api/v1/interruptions/{interruption['id']}/take/", {}, format="json")
    with engine():
        ran = tina.post(f"/api/v1/interruptions/{interruption['id']}/run-helper-script/", format="json")
    assert ran.status_code == 202
    output = tina.get(f"/api/v1/interruptions/{interruption['id']}/").json()["helper_output"]
    assert "GET /healthz: 200 ok" in output
    with engine():
        tina.post(
            f"/api/v1/interruptions/{interruption['id']}/submit/",
            {"result": "proceed", "notes": output},
            format="json",
        )
    assert admin.get(f"/api/v1/deployments/{second['id']}/").json()["state"] == "success"

    automated = editor.post(f"{url}steps/8/automate/", {"keep_check": True}, format="json")
    assert [s["automation_level"] for s in automated.json()["steps"]] == [1] * 7 + [3, 1]
    with engine():
        third = _deploy(admin, slug, "1.2.0")
    assert answer_all(third["id"])[-1] == f"Check: {LAST_STEP}"
    detail = admin.get(f"/api/v1/deployments/{third['id']}/").json()
    assert detail["state"] == "success"
    assert [(s["name"], s["kind"], s["state"]) for s in detail["steps"]][-2:] == [
        (LAST_STEP, "script", "success"),
        (f"Check: {LAST_STEP}", "manual", "success"),
    ]


def test_a_step_is_removed_through_the_api_for_project_editors_only(api, edith, vera, octopus):
    removed = api(edith).delete(f"{PROCESS}steps/8/")
    assert removed.status_code == 200, removed.json()
    assert [s["name"] for s in removed.json()["steps"]][
        -1
    ] == "Copy the temporary folder into the live folder"
    assert AuditEvent.objects.filter(action="process.step_removed").get().changes == {
        "step": LAST_STEP,
        "position": 8,
    }
    outside = api(edith).delete(f"{PROCESS}steps/8/")
    assert outside.status_code == 400 and outside.json()["code"] == "no_such_step"
    assert api(vera).delete(f"{PROCESS}steps/1/").status_code == 403
    assert api(edith).delete(MD).status_code == 405
    assert Step.objects.filter(project=octopus.project).count() == 7
