"""Targets through the API (SPEC §9): the token shown once and kept as a hash, scoping,
rotation, and the agent endpoints refusing anything but the target's own token."""

import pytest

from lifecycles.models import Environment
from targets.models import Target
from teams.choices import Role
from teams.models import AuditEvent, RoleGrant, Team, User

URL = "/api/v1/targets/"
CLAIM = "/api/v1/agent/claim/"


@pytest.fixture
def created(api, root, octopus):
    response = api(root).post(
        URL, {"name": "web-1", "environments": ["manual-test"], "roles": ["web", "app"]}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_create_shows_the_token_once_and_keeps_only_its_hash(api, root, created):
    token = created["agent_token"]
    assert token.startswith("rmt_")
    assert created["status"] == "offline" and created["roles"] == ["web", "app"]
    target = Target.objects.get(slug="web-1")
    assert token not in (target.token_hash, target.token_prefix)
    again = api(root).get(f"{URL}web-1/").json()
    assert "agent_token" not in again
    events = list(AuditEvent.objects.filter(action="target.created").values_list("changes", flat=True))
    assert token not in str(events)


def test_only_superusers_create_and_rotate(api, sarah, octopus, created):
    client = api(sarah)
    response = client.post(URL, {"name": "web-2", "environments": ["manual-test"]}, format="json")
    assert response.status_code == 403
    assert client.post(f"{URL}web-1/rotate-token/").status_code == 403


def test_a_target_outside_the_viewers_environments_is_404(api, root, octopus, created):
    viewer = User.objects.create_user("lena", display_name="Lena")
    team = Team.objects.create(name="Live watchers")
    team.members.add(viewer)
    grant = RoleGrant.objects.create(team=team, role=Role.VIEWER)
    grant.environments.add(Environment.objects.get(slug="manual-live"))
    client = api(viewer)
    assert client.get(f"{URL}web-1/").status_code == 404
    assert client.get(URL).json()["results"] == []
    Target.objects.get(slug="web-1").environments.add(Environment.objects.get(slug="manual-live"))
    assert client.get(f"{URL}web-1/").status_code == 200


def test_rotating_stops_the_old_token_at_once(api, root, created, agent_client):
    old = created["agent_token"]
    assert agent_client(old).post(CLAIM, {"wait": 0}, format="json").status_code == 204
    new = api(root).post(f"{URL}web-1/rotate-token/").json()["agent_token"]
    refused = agent_client(old).post(CLAIM, {"wait": 0}, format="json")
    assert refused.status_code == 401 and "rotated" in refused.json()["detail"]
    assert agent_client(new).post(CLAIM, {"wait": 0}, format="json").status_code == 204


def test_an_api_key_is_not_an_agent_token_nor_the_other_way(api, root, created, agent_client):
    assert api(root).post(CLAIM, {"wait": 0}, format="json").status_code == 401
    assert agent_client(created["agent_token"]).get("/api/v1/deployments/").status_code == 401


def test_a_poll_says_the_agent_is_online_with_its_host_and_version(api, root, created, agent_client):
    body = {"wait": 0, "hostname": "web-1.example.com", "version": "9.9"}
    assert agent_client(created["agent_token"]).post(CLAIM, body, format="json").status_code == 204
    target = api(root).get(f"{URL}web-1/").json()
    assert (target["status"], target["hostname"], target["agent_version"]) == (
        "online",
        "web-1.example.com",
        "9.9",
    )


def test_bad_roles_and_no_environment_are_400(api, root, octopus):
    client = api(root)
    response = client.post(
        URL, {"name": "x", "environments": ["manual-test"], "roles": ["a b"]}, format="json"
    )
    assert response.status_code == 400 and "roles" in response.json()["errors"]
    response = client.post(URL, {"name": "x", "environments": []}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "environments_required"
