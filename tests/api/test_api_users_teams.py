import pytest

from processes.models import ProjectGroup
from teams.models import AuditEvent, Team, User

USERS = "/api/v1/users/"
TEAMS = "/api/v1/teams/"

# --- users ------------------------------------------------------------------------------------


def test_users_list_is_readable_by_anyone_signed_in(api, oscar, octopus):
    body = api(oscar).get(USERS).json()
    by_name = {u["username"]: u for u in body["results"]}
    assert {"sarah", "olly", "tina", "oscar"} <= set(by_name)
    assert by_name["sarah"]["display_name"] == "Sarah"
    assert by_name["sarah"]["teams"] == [Team.objects.get(name="DBA Team").pk]
    assert "password" not in by_name["sarah"]


def test_users_email_and_superuser_flag_hidden_from_everyone_but_superusers(api, oscar, sarah, root):
    sarah.email = "sarah@example.com"
    sarah.save(update_fields=["email"])
    for persona in (oscar, sarah):
        listed = {u["username"]: u for u in api(persona).get(USERS).json()["results"]}
        detail = api(persona).get(f"{USERS}root/").json()
        for user in (listed["sarah"], listed["root"], detail):
            assert "email" not in user and "is_superuser" not in user
            assert {"username", "display_name"} <= set(user)
    listed = {u["username"]: u for u in api(root).get(USERS).json()["results"]}
    assert listed["sarah"]["email"] == "sarah@example.com"
    assert listed["root"]["is_superuser"] is True
    assert api(root).get(f"{USERS}sarah/").json()["email"] == "sarah@example.com"


def test_user_detail_by_username(api, vera, sarah):
    assert api(vera).get(f"{USERS}sarah/").json()["display_name"] == "Sarah"
    assert api(vera).get(f"{USERS}nobody/").status_code == 404


def test_superuser_creates_user_with_password(api, root):
    data = {
        "username": "dana",
        "display_name": "Dana",
        "email": "dana@example.com",
        "password": "a-Long-passw0rd!",
    }
    response = api(root).post(USERS, data)
    assert response.status_code == 201, response.json()
    assert response.json()["username"] == "dana"
    assert "password" not in response.json()
    dana = User.objects.get(username="dana")
    assert dana.check_password("a-Long-passw0rd!")
    assert not dana.is_superuser
    event = AuditEvent.objects.get(action="user.created")
    assert event.actor == root
    assert "password" not in event.changes


def test_user_created_without_password_cannot_sign_in_with_one(api, root):
    assert api(root).post(USERS, {"username": "ci-bot"}).status_code == 201
    assert not User.objects.get(username="ci-bot").has_usable_password()


@pytest.mark.parametrize("persona", ["sarah", "vera", "oscar"])
def test_create_user_refused_for_non_superusers(api, request, persona):
    response = api(request.getfixturevalue(persona)).post(USERS, {"username": "mallory"})
    assert response.status_code == 403
    assert not User.objects.filter(username="mallory").exists()


def test_create_user_with_taken_username_is_409(api, root, sarah):
    response = api(root).post(USERS, {"username": "Sarah"})
    assert response.status_code == 409
    assert response.json() == {"detail": "A user named Sarah already exists.", "code": "duplicate_username"}


def test_create_user_with_weak_password_is_400(api, root):
    response = api(root).post(USERS, {"username": "weak", "password": "123"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_password"
    assert not User.objects.filter(username="weak").exists()


# --- teams ------------------------------------------------------------------------------------


def test_teams_list_has_members_and_roles(api, olly, octopus, django_assert_max_num_queries):
    group = ProjectGroup.objects.get(name="Default Project Group")
    client = api(olly)
    with django_assert_max_num_queries(12):
        body = client.get(TEAMS).json()
    dba = next(t for t in body["results"] if t["name"] == "DBA Team")
    assert dba["members"] == ["sarah"]
    assert dba["roles"] == [
        {"role": "deployer", "project_groups": [group.pk], "projects": [], "environments": []}
    ]


def test_superuser_creates_team_with_members_and_scoped_roles(api, root, octopus):
    data = {
        "name": "Release Team",
        "members": ["sarah", "olly"],
        "roles": [
            {"role": "release_creator", "projects": ["manual-deployment"]},
            {"role": "deployer", "projects": ["manual-deployment"], "environments": ["manual-test"]},
        ],
    }
    response = api(root).post(TEAMS, data, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert sorted(body["members"]) == ["olly", "sarah"]
    assert [r["role"] for r in body["roles"]] == ["deployer", "release_creator"]
    assert body["roles"][0] == {
        "role": "deployer",
        "project_groups": [],
        "projects": ["manual-deployment"],
        "environments": ["manual-test"],
    }
    assert AuditEvent.objects.get(action="team.created").changes["members"] == ["olly", "sarah"]


@pytest.mark.parametrize("persona", ["sarah", "vera", "oscar", "edith"])
def test_create_team_refused_for_non_superusers(api, request, persona):
    response = api(request.getfixturevalue(persona)).post(TEAMS, {"name": "Cabal"}, format="json")
    assert response.status_code == 403
    assert not Team.objects.filter(name="Cabal").exists()


def test_create_team_with_unknown_member_is_400(api, root, octopus):
    response = api(root).post(TEAMS, {"name": "Ghosts", "members": ["casper"]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"members": ["Unknown user casper."]}


def test_create_team_with_unknown_role_is_400(api, root, octopus):
    response = api(root).post(TEAMS, {"name": "Odd", "roles": [{"role": "king"}]}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["roles[0].role"]


def test_patch_team_replaces_members_and_keeps_roles(api, root, octopus):
    team = Team.objects.get(name="DBA Team")
    response = api(root).patch(f"{TEAMS}{team.pk}/", {"members": ["sarah", "tina"]}, format="json")
    assert response.status_code == 200
    assert sorted(response.json()["members"]) == ["sarah", "tina"]
    assert len(response.json()["roles"]) == 1
    event = AuditEvent.objects.get(action="team.updated")
    assert event.changes == {"members": [["sarah"], ["sarah", "tina"]]}


def test_patch_team_roles_are_validated_whole(api, root, octopus):
    team = Team.objects.get(name="DBA Team")
    response = api(root).patch(
        f"{TEAMS}{team.pk}/", {"roles": [{"projects": ["manual-deployment"]}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"roles[0].role": ["This field is required."]}
    response = api(root).patch(f"{TEAMS}{team.pk}/", {"roles": [{"role": "viewer"}]}, format="json")
    assert response.status_code == 200
    assert response.json()["roles"] == [
        {"role": "viewer", "project_groups": [], "projects": [], "environments": []}
    ]


def test_patch_team_refused_for_its_own_member(api, sarah):
    team = Team.objects.get(name="DBA Team")
    response = api(sarah).patch(f"{TEAMS}{team.pk}/", {"members": ["sarah", "oscar"]}, format="json")
    assert response.status_code == 403
    assert list(team.members.values_list("username", flat=True)) == ["sarah"]


def test_delete_team_responsible_for_steps_is_409(api, root, octopus):
    team = Team.objects.get(name="DBA Team")
    response = api(root).delete(f"{TEAMS}{team.pk}/")
    assert response.status_code == 409
    assert response.json()["detail"].startswith(
        "DBA Team is responsible for step Backup the database of Manual Deployment"
    )
    assert Team.objects.filter(pk=team.pk).exists()


def test_delete_unused_team(api, root, vera):
    team = Team.objects.get(name="Auditors")
    assert api(root).delete(f"{TEAMS}{team.pk}/").status_code == 204
    assert not Team.objects.filter(pk=team.pk).exists()
    assert AuditEvent.objects.filter(action="team.deleted", subject_id=str(team.pk)).exists()


def test_delete_team_refused_for_deployer(api, olly, vera):
    team = Team.objects.get(name="Auditors")
    assert api(olly).delete(f"{TEAMS}{team.pk}/").status_code == 403


# --- me ---------------------------------------------------------------------------------------


def test_me_shows_teams_and_effective_roles(api, sarah):
    group = ProjectGroup.objects.get(name="Default Project Group")
    body = api(sarah).get("/api/v1/me/").json()
    team = Team.objects.get(name="DBA Team")
    assert body == {
        "username": "sarah",
        "display_name": "Sarah",
        "email": "sarah@example.com",
        "is_superuser": False,
        "teams": [{"id": team.pk, "name": "DBA Team"}],
        "roles": [
            {
                "team": {"id": team.pk, "name": "DBA Team"},
                "role": "deployer",
                "includes": ["deployer", "viewer"],
                "project_groups": [group.pk],
                "projects": [],
                "environments": [],
            }
        ],
    }


def test_me_for_outsider_and_superuser(api, oscar, root):
    assert api(oscar).get("/api/v1/me/").json()["roles"] == []
    me = api(root).get("/api/v1/me/").json()
    assert me["is_superuser"] is True
    assert me["teams"] == []


# --- audit ------------------------------------------------------------------------------------


def test_audit_is_superuser_only(api, sarah, vera, oscar):
    for user in (sarah, vera, oscar):
        response = api(user).get("/api/v1/audit/")
        assert response.status_code == 403
        assert response.json()["detail"] == "Only superusers and auditors may read the audit trail."


def test_audit_lists_events_newest_first_with_filters(api, root, deployment, interruption, sarah):
    client = api(root)
    client.post(f"/api/v1/interruptions/{interruption.pk}/take/", {}, format="json")
    api(sarah).post(f"/api/v1/interruptions/{interruption.pk}/take/", {"take_over": True}, format="json")
    body = client.get("/api/v1/audit/").json()
    actions = [e["action"] for e in body["results"]]
    assert actions[0] == "interruption.taken"
    assert "deployment.created" in actions and "release.created" in actions

    taken = client.get("/api/v1/audit/", {"action": "interruption.taken", "actor": "sarah"}).json()
    assert taken["count"] == 1
    event = taken["results"][0]
    assert event["project"] == "manual-deployment"
    assert event["environment"] == "manual-test"
    assert event["changes"]["assignee"] == [None, "sarah"]

    assert client.get("/api/v1/audit/", {"project": "goodhealth"}).json()["count"] == 0
    assert client.get("/api/v1/audit/", {"project": "manual-deployment"}).json()["count"] >= 3
    later = client.get("/api/v1/audit/", {"from": "2999-01-01T00:00:00Z"}).json()
    assert later["count"] == 0
    earlier = client.get("/api/v1/audit/", {"to": "2000-01-01"}).json()
    assert earlier["count"] == 0
    assert client.get("/api/v1/audit/", {"from": "yesterday-ish"}).status_code == 400
