import pytest

from lifecycles.models import Environment
from processes.models import Step
from teams.models import AuditEvent, RoleGrant

URL = "/api/v1/environments/"


def test_list_is_paginated_and_readable_by_anyone_signed_in(api, oscar, octopus):
    body = api(oscar).get(URL).json()
    assert body["count"] == 2
    assert [e["slug"] for e in body["results"]] == ["manual-test", "manual-live"]
    assert set(body["results"][0]) == {"id", "name", "slug", "description", "sort_order"}


def test_detail_by_slug(api, vera, octopus):
    response = api(vera).get(f"{URL}manual-live/")
    assert response.status_code == 200
    assert response.json()["name"] == "Manual Live"
    assert api(vera).get(f"{URL}nowhere/").status_code == 404


def test_create_derives_slug_from_name_and_audits(api, root, octopus):
    response = api(root).post(URL, {"name": "Staging Area", "sort_order": 15})
    assert response.status_code == 201, response.json()
    assert response.json()["slug"] == "staging-area"
    event = AuditEvent.objects.get(action="environment.created")
    assert event.actor == root
    assert event.source_ip == "127.0.0.1"
    assert event.changes["slug"] == "staging-area"


def test_create_with_explicit_slug(api, root, octopus):
    response = api(root).post(URL, {"name": "Staging", "slug": "stg"})
    assert response.status_code == 201
    assert Environment.objects.get(slug="stg").name == "Staging"


@pytest.mark.parametrize("persona", ["sarah", "vera", "oscar", "edith"])
def test_create_refused_for_non_superusers(api, persona, request, octopus):
    user = request.getfixturevalue(persona)
    response = api(user).post(URL, {"name": "Staging"})
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only superusers may change this configuration.",
        "code": "permission_denied",
    }
    assert not Environment.objects.filter(name="Staging").exists()


def test_create_duplicate_name_is_409(api, root, octopus):
    response = api(root).post(URL, {"name": "Manual Test"})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "An environment named Manual Test already exists.",
        "code": "duplicate_name",
    }


def test_create_duplicate_derived_slug_is_409(api, root, octopus):
    response = api(root).post(URL, {"name": "manual test!"})
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_slug"


def test_patch_changes_fields_and_audits(api, root, octopus):
    response = api(root).patch(f"{URL}manual-test/", {"description": "QA"})
    assert response.status_code == 200
    assert response.json()["description"] == "QA"
    event = AuditEvent.objects.get(action="environment.updated")
    assert event.changes == {"description": ["Where a release is checked first.", "QA"]}


def test_patch_refused_for_viewer(api, vera, octopus):
    response = api(vera).patch(f"{URL}manual-test/", {"description": "QA"})
    assert response.status_code == 403
    assert Environment.objects.get(slug="manual-test").description != "QA"


def test_delete_unused_environment(api, root, octopus):
    Environment.objects.create(name="Scratch", slug="scratch")
    response = api(root).delete(f"{URL}scratch/")
    assert response.status_code == 204
    assert not Environment.objects.filter(slug="scratch").exists()
    assert AuditEvent.objects.filter(action="environment.deleted").exists()


def test_delete_refused_for_deployer(api, olly, octopus):
    Environment.objects.create(name="Scratch", slug="scratch")
    assert api(olly).delete(f"{URL}scratch/").status_code == 403
    assert Environment.objects.filter(slug="scratch").exists()


def test_delete_environment_in_a_lifecycle_is_409(api, root, octopus):
    response = api(root).delete(f"{URL}manual-test/")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "in_use"
    assert "Manual Deployment Lifecycle" in body["detail"]


def test_delete_environment_narrowing_a_role_grant_is_409(api, root, octopus, sarah):
    scratch = Environment.objects.create(name="Scratch", slug="scratch")
    RoleGrant.objects.get(team__name="DBA Team").environments.add(scratch)
    response = api(root).delete(f"{URL}scratch/")
    assert response.status_code == 409
    assert "DBA Team" in response.json()["detail"]


def test_delete_environment_a_step_runs_in_is_409(api, root, octopus):
    scratch = Environment.objects.create(name="Scratch", slug="scratch")
    Step.objects.filter(project=octopus.project).first().environments.add(scratch)
    assert api(root).delete(f"{URL}scratch/").status_code == 409
