"""The Octopus Deploy story, end to end over the API: a release goes through the
eight-step checklist in Manual Test, each step taken and proceeded by a member of its
team with their own key, then on to Manual Live."""

from releases.choices import DeploymentState


def test_octopus_checklist_over_the_api(api, octopus, root, engine):
    admin = api(root)
    people = {
        "DBA Team": ("sarah", api(octopus.users["sarah"])),
        "Ops Team": ("olly", api(octopus.users["olly"])),
        "Test Team": ("tina", api(octopus.users["tina"])),
    }
    teams = {team["id"]: team["name"] for team in admin.get("/api/v1/teams/").json()["results"]}
    _, sarah = people["DBA Team"]

    release = admin.post("/api/v1/projects/manual-deployment/releases/", {"version": "1.0.0"}).json()
    refused = sarah.post(f"/api/v1/releases/{release['id']}/deployments/", {"environment": "manual-live"})
    assert refused.status_code == 409
    with engine():
        created = sarah.post(f"/api/v1/releases/{release['id']}/deployments/", {"environment": "manual-test"})
    assert created.status_code == 201
    deployment_id = created.json()["id"]

    done = []
    for _ in range(8):
        waiting = sarah.get("/api/v1/interruptions/", {"deployment": deployment_id, "pending": "true"}).json()
        assert waiting["count"] == 1
        interruption = waiting["results"][0]
        username, client = people[teams[interruption["responsible_teams"][0]]]
        mine = client.get("/api/v1/interruptions/", {"mine": "true"}).json()["results"]
        assert [i["id"] for i in mine] == [interruption["id"]]
        assert (
            client.post(f"/api/v1/interruptions/{interruption['id']}/take/", {}, format="json").json()[
                "assignee"
            ]
            == username
        )
        with engine():
            submitted = client.post(
                f"/api/v1/interruptions/{interruption['id']}/submit/",
                {"result": "proceed", "notes": "42 passed"},
                format="json",
            )
        assert submitted.status_code == 200, submitted.json()
        done.append((interruption["title"], username))

    assert [who for _, who in done] == ["sarah", "sarah", "olly", "olly", "olly", "olly", "olly", "tina"]
    deployment = sarah.get(f"/api/v1/deployments/{deployment_id}/").json()
    assert deployment["state"] == DeploymentState.SUCCESS
    assert {step["state"] for step in deployment["steps"]} == {"success"}
    assert deployment["finished_at"] is not None

    log = [e["message"] for e in sarah.get(f"/api/v1/deployments/{deployment_id}/log/").json()["entries"]]
    assert "== Success: Step 1: Backup the database ==" in log
    assert any(m.startswith("Submitted by: Sarah (DBA Team) at ") for m in log)
    assert any(m.startswith("Submitted by: Olly (Ops Team) at ") for m in log)
    assert any(m.startswith("Submitted by: Tina (Test Team) at ") for m in log)
    assert "Notes: 42 passed" in log
    assert log[-1] == "Deployment to Manual Test succeeded."

    progression = sarah.get(f"/api/v1/releases/{release['id']}/").json()["progression"]
    assert progression[0]["latest_deployment"] == {"id": deployment_id, "state": "success"}
    assert progression[1] == {
        "environment": "manual-live",
        "phase": "Live",
        "can_deploy": True,
        "reason": "",
        "latest_deployment": None,
    }
    with engine():
        live = sarah.post(f"/api/v1/releases/{release['id']}/deployments/", {"environment": "manual-live"})
    assert live.status_code == 201
    assert sarah.get(f"/api/v1/deployments/{live.json()['id']}/").json()["state"] == "waiting"

    audit = admin.get(
        "/api/v1/audit/", {"action": "interruption.submitted", "project": "manual-deployment"}
    ).json()
    assert audit["count"] == 8
    assert {e["actor"] for e in audit["results"]} == {"sarah", "olly", "tina"}
