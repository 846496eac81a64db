import pytest

from releases.choices import DeploymentState
from releases.models import Deployment, Release
from teams.models import AuditEvent

RELEASES = "/api/v1/projects/manual-deployment/releases/"


def test_release_creator_creates_release(api, rick, octopus):
    response = api(rick).post(RELEASES, {"version": "1.0.0", "notes": "First *tracked* release."})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == "1.0.0"
    assert body["project"] == "manual-deployment"
    assert body["created_by"] == "rick"
    assert body["notes"] == "First *tracked* release."
    assert [row["environment"] for row in body["progression"]] == ["manual-test", "manual-live"]
    release = Release.objects.get(pk=body["id"])
    assert release.steps.count() == 8
    assert AuditEvent.objects.get(action="release.created").source_ip == "127.0.0.1"


@pytest.mark.parametrize("persona", ["sarah", "vera", "edith"])
def test_create_release_refused_without_release_creator_role(api, request, persona, octopus):
    response = api(request.getfixturevalue(persona)).post(RELEASES, {"version": "1.0.0"})
    assert response.status_code == 403
    assert response.json() == {
        "detail": "You need the release creator role on Manual Deployment to create releases.",
        "code": "permission_denied",
    }
    assert not Release.objects.exists()


def test_create_release_by_outsider_is_404(api, oscar, octopus):
    assert api(oscar).post(RELEASES, {"version": "1.0.0"}).status_code == 404
    assert api(oscar).get(RELEASES).status_code == 404


def test_duplicate_version_is_409(api, root, release):
    response = api(root).post(RELEASES, {"version": "1.0.0"})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Manual Deployment already has a release 1.0.0; choose another version.",
        "code": "duplicate_version",
    }
    assert Release.objects.count() == 1


@pytest.mark.parametrize(
    ("version", "code"), [("", "invalid"), ("1.0 beta", "invalid_version"), ("x" * 101, "invalid_version")]
)
def test_bad_version_is_400(api, root, octopus, version, code):
    response = api(root).post(RELEASES, {"version": version})
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not Release.objects.exists()


def test_malformed_json_is_400_and_changes_nothing(api, root, octopus):
    response = api(root).post(RELEASES, '{"version": "1.0.0",', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert response.json()["detail"].startswith("JSON parse error")
    assert not Release.objects.exists()


def test_oversized_release_notes_are_400(api, root, octopus):
    response = api(root).post(RELEASES, {"version": "1.0.0", "notes": "n" * 20_001}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"notes": ["Notes are limited to 20,000 characters."]}
    assert not Release.objects.exists()


def test_disabled_project_refuses_releases_with_409(api, root, octopus):
    octopus.project.disabled = True
    octopus.project.save(update_fields=["disabled"])
    response = api(root).post(RELEASES, {"version": "1.0.0"})
    assert response.status_code == 409
    assert response.json()["code"] == "project_disabled"


def test_list_releases_newest_first(api, vera, root, octopus):
    client = api(root)
    for version in ("1.0.0", "1.1.0"):
        assert client.post(RELEASES, {"version": version}).status_code == 201
    body = api(vera).get(RELEASES).json()
    assert [r["version"] for r in body["results"]] == ["1.1.0", "1.0.0"]
    assert set(body["results"][0]) == {"id", "project", "version", "notes", "created_by", "created_at"}


def test_release_detail_progression_before_any_deployment(api, sarah, release):
    body = api(sarah).get(f"/api/v1/releases/{release.pk}/").json()
    assert body["progression"] == [
        {
            "environment": "manual-test",
            "phase": "Test",
            "can_deploy": True,
            "reason": "",
            "latest_deployment": None,
        },
        {
            "environment": "manual-live",
            "phase": "Live",
            "can_deploy": False,
            "reason": "Release 1.0.0 of Manual Deployment must first be deployed to Manual Test (phase Test).",
            "latest_deployment": None,
        },
    ]


def test_release_detail_progression_shows_latest_deployment_and_role(api, vera, deployment):
    body = api(vera).get(f"/api/v1/releases/{deployment.release_id}/").json()
    test, live = body["progression"]
    assert test["latest_deployment"] == {"id": deployment.pk, "state": "waiting"}
    assert test["can_deploy"] is False
    assert test["reason"] == "You need the deployer role on Manual Deployment in Manual Test to deploy there."
    assert live["latest_deployment"] is None


def test_release_detail_by_outsider_is_404(api, oscar, release):
    assert api(oscar).get(f"/api/v1/releases/{release.pk}/").status_code == 404


def test_release_detail_query_count_is_bounded(api, sarah, deployment, django_assert_max_num_queries):
    client = api(sarah)
    with django_assert_max_num_queries(14):
        assert client.get(f"/api/v1/releases/{deployment.release_id}/").status_code == 200


# --- deploying --------------------------------------------------------------------------------


def deployments_url(release) -> str:
    return f"/api/v1/releases/{release.pk}/deployments/"


def test_deployer_deploys_to_first_phase(api, sarah, release, engine):
    with engine():
        response = api(sarah).post(deployments_url(release), {"environment": "manual-test"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["environment"] == "manual-test"
    assert body["created_by"] == "sarah"
    assert body["state"] == "queued"
    assert len(body["steps"]) == 8
    deployment = Deployment.objects.get(pk=body["id"])
    assert deployment.state == DeploymentState.WAITING
    event = AuditEvent.objects.get(action="deployment.created")
    assert event.actor == sarah
    assert event.source_ip == "127.0.0.1"


def test_deploy_to_live_before_test_is_409_naming_the_phase(api, sarah, release):
    response = api(sarah).post(deployments_url(release), {"environment": "manual-live"})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Release 1.0.0 of Manual Deployment must first be deployed to Manual Test (phase Test).",
        "code": "lifecycle",
    }
    assert not Deployment.objects.exists()


def test_deploy_to_environment_outside_the_lifecycle_is_409(api, root, release, goodhealth):
    response = api(root).post(deployments_url(release), {"environment": "production"})
    assert response.status_code == 409
    assert "is not part of the lifecycle Manual Deployment Lifecycle" in response.json()["detail"]


def test_deploy_to_unknown_environment_is_400(api, sarah, release):
    response = api(sarah).post(deployments_url(release), {"environment": "mars"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"environment": ["Unknown environment mars."]}
    assert not Deployment.objects.exists()


def test_deploy_without_environment_is_400(api, sarah, release):
    response = api(sarah).post(deployments_url(release), {}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"environment": ["This field is required."]}


@pytest.mark.parametrize("persona", ["vera", "rick", "edith"])
def test_deploy_refused_without_deployer_role(api, request, persona, release):
    response = api(request.getfixturevalue(persona)).post(
        deployments_url(release), {"environment": "manual-test"}
    )
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "You need the deployer role on Manual Deployment in Manual Test to deploy there."
    )
    assert not Deployment.objects.exists()


def test_deploy_by_outsider_is_404(api, oscar, release):
    assert api(oscar).post(deployments_url(release), {"environment": "manual-test"}).status_code == 404


def test_guided_failure_override_on_deploy(api, sarah, release, engine):
    with engine():
        body = (
            api(sarah)
            .post(deployments_url(release), {"environment": "manual-test", "guided_failure": True})
            .json()
        )
    assert Deployment.objects.get(pk=body["id"]).guided_failure is True


def test_list_a_releases_deployments(api, vera, deployment):
    body = api(vera).get(deployments_url(deployment.release)).json()
    assert body["count"] == 1
    assert body["results"][0]["id"] == deployment.pk
    assert body["results"][0]["state"] == "waiting"
