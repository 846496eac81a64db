"""/me/: a user's teams, roles and their scopes; a superuser may look at anyone's."""

from django.urls import reverse

from processes.models import ProjectGroup
from teams.choices import Role
from teams.models import RoleGrant, Team

ME = reverse("me")


def test_shows_my_teams_roles_and_scopes(signed_in, sarah, octopus):
    scoped = Team.objects.create(name="Night Shift")
    scoped.members.add(sarah)
    grant = RoleGrant.objects.create(team=scoped, role=Role.RELEASE_CREATOR)
    grant.projects.add(octopus.project)
    grant.environments.add(octopus.environments[1])

    response = signed_in(sarah).get(ME)

    assert response.status_code == 200
    page = response.content.decode()
    for text in ("DBA Team", "Deployer", "Default Project Group", "Night Shift", "Release creator"):
        assert text in page
    assert "Manual Deployment" in page and "Manual Live" in page
    assert "Viewer" in page  # every role includes it


def test_unscoped_grant_reads_as_everything(signed_in, vera):
    page = signed_in(vera).get(ME).content.decode()
    assert "Auditors" in page and "Viewer" in page
    assert "Every project" in page and "Every environment" in page


def test_auditor_is_told_they_read_the_trail(signed_in, audrey):
    page = signed_in(audrey).get(ME).content.decode()
    assert "Auditor" in page
    assert reverse("audit_list") in page


def test_outsider_sees_they_have_no_role(signed_in, oscar):
    response = signed_in(oscar).get(ME)
    assert response.status_code == 200
    assert "not in any team" in response.content.decode()


def test_superuser_looks_at_anyones(signed_in, root, sarah):
    client = signed_in(root)
    page = client.get(ME, {"user": "sarah"}).content.decode()
    assert "Permissions of sarah" in page and "DBA Team" in page
    assert client.get(ME, {"user": "nobody"}).status_code == 404


def test_others_may_not_look_at_someone_else(signed_in, sarah, olly):
    assert signed_in(sarah).get(ME, {"user": "olly"}).status_code == 403
    assert signed_in(sarah).get(ME, {"user": "sarah"}).status_code == 200


def test_project_group_scope_is_named(signed_in, oscar, octopus):
    team = Team.objects.create(name="Group Watchers")
    team.members.add(oscar)
    grant = RoleGrant.objects.create(team=team, role=Role.VIEWER)
    grant.project_groups.add(ProjectGroup.default())
    page = signed_in(oscar).get(ME).content.decode()
    assert "Default Project Group" in page and "Every environment" in page
