import pytest

from releases.choices import DeploymentState
from releases.models import Deployment, Interruption
from releases.services import deployment_create, release_create
from teams.models import AuditEvent

URL = "/api/v1/deployments/"


def test_detail_shape_exactly_as_specified(api, sarah, deployment, interruption):
    body = api(sarah).get(f"{URL}{deployment.pk}/").json()
    assert set(body) == {
        "id",
        "release",
        "project",
        "environment",
        "state",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "queue_at",
        "steps",
    }
    assert body["release"] == deployment.release_id
    assert body["project"] == "manual-deployment"
    assert body["environment"] == "manual-test"
    assert body["state"] == "waiting"
    assert body["created_by"] == "root"
    assert body["started_at"] is not None
    assert body["finished_at"] is None
    first, second = body["steps"][:2]
    assert set(first) == {
        "position",
        "name",
        "kind",
        "state",
        "started_at",
        "finished_at",
        "interruption",
        "runs",
    }
    assert first["position"] == 1
    assert first["name"] == "Backup the database"
    assert first["kind"] == "manual"
    assert first["state"] == "waiting"
    assert first["interruption"] == interruption.pk
    assert second["interruption"] is None
    assert second["state"] == "pending"


def test_detail_out_of_scope_is_404(api, oscar, deployment):
    assert api(oscar).get(f"{URL}{deployment.pk}/").status_code == 404


def test_detail_query_count_is_bounded(api, sarah, deployment, django_assert_max_num_queries):
    client = api(sarah)
    # One of them reads every step's runs on targets, however many steps and runs.
    with django_assert_max_num_queries(11):
        assert client.get(f"{URL}{deployment.pk}/").status_code == 200


@pytest.fixture
def many_deployments(octopus, goodhealth, root, engine):
    """Deployments across both projects and several environments."""
    test, _ = octopus.environments
    integration = goodhealth.environments[0]
    with engine():
        for n in range(3):
            release = release_create(project=octopus.project, version=f"1.{n}.0", actor=root)
            deployment_create(release=release, environment=test, actor=root)
            other = release_create(project=goodhealth.project, version=f"2.{n}.0", actor=root)
            deployment_create(release=other, environment=integration, actor=root)
    return Deployment.objects.all()


def test_list_filters_by_project_environment_and_state(api, sarah, many_deployments):
    client = api(sarah)
    assert client.get(URL).json()["count"] == 6
    mine = client.get(URL, {"project": "manual-deployment"}).json()
    assert mine["count"] == 3
    assert {d["project"] for d in mine["results"]} == {"manual-deployment"}
    assert client.get(URL, {"environment": "integration"}).json()["count"] == 3
    # One Manual Test deployment holds the slot at a blocking step; the others queue behind it.
    assert client.get(URL, {"project": "manual-deployment", "state": "queued"}).json()["count"] == 2
    assert client.get(URL, {"state": "success"}).json()["count"] == 0


def test_list_with_unknown_state_is_400(api, sarah, deployment):
    response = api(sarah).get(URL, {"state": "exploded"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["state"]


def test_list_is_scoped_and_paginated(api, oscar, sarah, many_deployments):
    assert api(oscar).get(URL).json()["count"] == 0
    page = api(sarah).get(URL, {"page_size": 4}).json()
    assert len(page["results"]) == 4
    assert page["next"] is not None


def test_list_queries_do_not_grow_with_deployments(
    api, sarah, many_deployments, django_assert_max_num_queries
):
    client = api(sarah)
    with django_assert_max_num_queries(8):
        body = client.get(URL).json()
    assert body["count"] == 6


# --- log --------------------------------------------------------------------------------------


def test_log_oldest_first_with_incremental_reads(api, vera, deployment):
    client = api(vera)
    entries = client.get(f"{URL}{deployment.pk}/log/").json()["entries"]
    messages = [e["message"] for e in entries]
    assert messages[0].startswith("Queued by Root: Manual Deployment 1.0.0 to Manual Test.")
    assert 'Manual intervention "Backup the database" is waiting for DBA Team.' in messages
    assert set(entries[0]) == {"id", "timestamp", "level", "step", "message"}
    assert entries[0]["step"] is None
    waiting = next(e for e in entries if e["message"].startswith("Manual intervention"))
    assert waiting["step"] == 1
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)

    after = client.get(f"{URL}{deployment.pk}/log/", {"after": entries[-2]["id"]}).json()["entries"]
    assert [e["id"] for e in after] == [entries[-1]["id"]]
    assert client.get(f"{URL}{deployment.pk}/log/", {"after": entries[-1]["id"]}).json() == {"entries": []}


def test_log_with_bad_after_is_400(api, vera, deployment):
    response = api(vera).get(f"{URL}{deployment.pk}/log/", {"after": "abc"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"after": ["A log entry id (a whole number)."]}


def test_log_out_of_scope_is_404(api, oscar, deployment):
    assert api(oscar).get(f"{URL}{deployment.pk}/log/").status_code == 404


# --- cancel -----------------------------------------------------------------------------------


def test_deployer_cancels_waiting_deployment(api, olly, deployment, interruption, engine):
    with engine():
        response = api(olly).post(f"{URL}{deployment.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.CANCELLED
    assert not Interruption.objects.get(pk=interruption.pk).pending
    assert AuditEvent.objects.get(action="deployment.cancelled").actor == olly


def test_cancel_twice_is_harmless(api, olly, deployment):
    client = api(olly)
    assert client.post(f"{URL}{deployment.pk}/cancel/").status_code == 200
    assert client.post(f"{URL}{deployment.pk}/cancel/").status_code == 200
    assert AuditEvent.objects.filter(action="deployment.cancelled").count() == 1


@pytest.mark.parametrize("persona", ["vera", "rick", "edith"])
def test_cancel_refused_without_deployer_role(api, request, persona, deployment):
    response = api(request.getfixturevalue(persona)).post(f"{URL}{deployment.pk}/cancel/")
    assert response.status_code == 403
    assert (
        response.json()["detail"]
        == "You need the deployer role on Manual Deployment in Manual Test to cancel."
    )
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.WAITING


def test_cancel_by_outsider_is_404(api, oscar, deployment):
    assert api(oscar).post(f"{URL}{deployment.pk}/cancel/").status_code == 404


def test_cancel_finished_deployment_is_409(api, sarah, deployment):
    Deployment.objects.filter(pk=deployment.pk).update(state=DeploymentState.SUCCESS)
    response = api(sarah).post(f"{URL}{deployment.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["code"] == "already_finished"
