"""What may not be deleted while something uses it: the database refuses (``PROTECT``),
every delete service answers 409 ``in_use`` naming the users, deletes nothing and records
nothing."""

import pytest
from django.db.models import ProtectedError
from rest_framework.test import APIClient

from lifecycles.models import Environment, Lifecycle
from processes.models import Project, ProjectGroup, Step
from processes.services import project_delete, project_group_delete
from releases.models import Deployment, Interruption, ReleaseStep
from releases.services import deployment_create, release_create
from relman.exceptions import Conflict, PermissionRefused
from teams.choices import Role
from teams.models import AuditEvent, RoleGrant, Team, User
from teams.services import api_key_create

ENVIRONMENTS = "/api/v1/environments/"
LIFECYCLES = "/api/v1/lifecycles/"
TEAMS = "/api/v1/teams/"


@pytest.fixture
def root_api(root) -> APIClient:
    client = APIClient()
    _, key = api_key_create(user=root, purpose="tests", actor=None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def scratch(db) -> Environment:
    return Environment.objects.create(name="Scratch", slug="scratch")


@pytest.fixture
def backup(octopus) -> Step:
    return Step.objects.get(project=octopus.project, name="Backup the database")


@pytest.fixture
def release(octopus, root, engine):
    with engine():
        return release_create(project=octopus.project, version="1.0.0", actor=root)


@pytest.fixture
def waiting(release, octopus, root, engine) -> Deployment:
    """A deployment of 1.0.0 to Manual Test, paused at "Backup the database"."""
    with engine():
        return deployment_create(release=release, environment=octopus.environments[0], actor=root)


def refused(response, message: str) -> None:
    assert response.status_code == 409, response.json()
    assert response.json() == {"detail": message, "code": "in_use"}
    assert not AuditEvent.objects.filter(action__endswith=".deleted").exists()


def test_environment_of_a_lifecycle_is_refused(root_api, octopus):
    refused(
        root_api.delete(f"{ENVIRONMENTS}manual-test/"),
        "Manual Test is in the lifecycle Manual Deployment Lifecycle (phase Test), so it cannot be deleted.",
    )
    assert Environment.objects.filter(slug="manual-test").exists()


def test_environment_a_step_runs_in_is_refused(root_api, backup, scratch):
    backup.environments.add(scratch)
    refused(
        root_api.delete(f"{ENVIRONMENTS}scratch/"),
        "Scratch is one of the environments of step Backup the database of Manual Deployment, "
        "so it cannot be deleted.",
    )
    assert list(backup.environments.all()) == [scratch]


def test_environment_a_step_excludes_is_refused(root_api, backup, scratch):
    backup.excluded_environments.add(scratch)
    refused(
        root_api.delete(f"{ENVIRONMENTS}scratch/"),
        "Scratch is excluded by step Backup the database of Manual Deployment, so it cannot be deleted.",
    )
    assert list(backup.excluded_environments.all()) == [scratch]


def test_environment_of_a_release_step_is_refused_once_the_process_forgets_it(
    root_api, octopus, root, backup, scratch, engine
):
    backup.environments.add(scratch)
    with engine():
        release_create(project=octopus.project, version="1.0.0", actor=root)
    backup.environments.clear()
    refused(
        root_api.delete(f"{ENVIRONMENTS}scratch/"),
        "Scratch is one of the environments of step Backup the database of release 1.0.0 of Manual "
        "Deployment, so it cannot be deleted.",
    )


def test_environment_in_a_grant_scope_is_refused(root_api, octopus, scratch):
    RoleGrant.objects.get(team__name="DBA Team").environments.add(scratch)
    refused(
        root_api.delete(f"{ENVIRONMENTS}scratch/"),
        "Scratch is in the scope of role grants of DBA Team, so it cannot be deleted.",
    )
    assert RoleGrant.objects.filter(environments=scratch).count() == 1


def test_environment_deployed_to_names_every_use_at_once(root_api, waiting):
    RoleGrant.objects.get(team__name="Ops Team").environments.add(waiting.environment)
    refused(
        root_api.delete(f"{ENVIRONMENTS}manual-test/"),
        "Manual Test is in the lifecycle Manual Deployment Lifecycle (phase Test); has 1 deployment; "
        "is in the scope of role grants of Ops Team, so it cannot be deleted.",
    )
    assert Deployment.objects.filter(pk=waiting.pk).exists()


def test_long_lists_are_cut_short(root_api, scratch):
    for number in range(1, 8):
        grant = RoleGrant.objects.create(team=Team.objects.create(name=f"Team {number}"), role=Role.VIEWER)
        grant.environments.add(scratch)
    refused(
        root_api.delete(f"{ENVIRONMENTS}scratch/"),
        "Scratch is in the scope of role grants of Team 1, Team 2, Team 3, Team 4, Team 5 and 2 more, "
        "so it cannot be deleted.",
    )


def test_unused_environment_is_deleted_and_audited(root_api, scratch):
    assert root_api.delete(f"{ENVIRONMENTS}scratch/").status_code == 204
    assert not Environment.objects.filter(pk=scratch.pk).exists()
    assert AuditEvent.objects.filter(action="environment.deleted", subject_id=str(scratch.pk)).exists()


def test_team_responsible_for_a_step_is_refused(root_api, octopus):
    team = Team.objects.get(name="Test Team")
    refused(
        root_api.delete(f"{TEAMS}{team.pk}/"),
        "Test Team is responsible for step Check the application loads as expected of Manual Deployment, "
        "so it cannot be deleted.",
    )
    assert Team.objects.filter(pk=team.pk).exists()


def test_team_responsible_for_a_release_step_is_refused(root_api, octopus, release, backup):
    team = Team.objects.get(name="DBA Team")
    Step.responsible_teams.through.objects.filter(team=team).delete()
    refused(
        root_api.delete(f"{TEAMS}{team.pk}/"),
        "DBA Team is responsible for step Backup the database of release 1.0.0 of Manual Deployment, "
        "step Upgrade the database of release 1.0.0 of Manual Deployment, so it cannot be deleted.",
    )


def test_team_responsible_for_an_intervention_is_refused(root_api, waiting):
    team = Team.objects.get(name="DBA Team")
    Step.responsible_teams.through.objects.filter(team=team).delete()
    ReleaseStep.responsible_teams.through.objects.filter(team=team).delete()
    refused(
        root_api.delete(f"{TEAMS}{team.pk}/"),
        f"DBA Team is responsible for an intervention of deployment {waiting.pk}, so it cannot be deleted.",
    )
    assert list(Interruption.objects.get(deployment=waiting).responsible_teams.all()) == [team]


def test_team_delete_takes_its_grants_but_not_their_scope(root_api, octopus, scratch):
    team = Team.objects.create(name="Short-lived")
    grant = RoleGrant.objects.create(team=team, role=Role.DEPLOYER)
    grant.projects.add(octopus.project)
    grant.environments.add(scratch)

    assert root_api.delete(f"{TEAMS}{team.pk}/").status_code == 204

    assert not RoleGrant.objects.filter(pk=grant.pk).exists()
    assert Project.objects.filter(pk=octopus.project.pk).exists()
    assert Environment.objects.filter(pk=scratch.pk).exists()
    assert AuditEvent.objects.filter(action="team.deleted", subject_id=str(team.pk)).exists()


def test_lifecycle_of_a_project_is_refused(root_api, octopus):
    lifecycle = octopus.project.lifecycle
    refused(
        root_api.delete(f"{LIFECYCLES}{lifecycle.pk}/"),
        "Manual Deployment Lifecycle is the lifecycle of Manual Deployment, so it cannot be deleted.",
    )
    assert lifecycle.phases.count() == 2


def test_project_with_releases_is_refused(octopus, root, release):
    with pytest.raises(Conflict) as refusal:
        project_delete(project=octopus.project, actor=root)
    assert refusal.value.code == "in_use"
    assert str(refusal.value) == "Manual Deployment has the releases 1.0.0, so it cannot be deleted."
    assert Step.objects.filter(project=octopus.project).count() == 8
    assert not AuditEvent.objects.filter(action="project.deleted").exists()


def test_project_in_a_grant_scope_is_refused(octopus, root):
    RoleGrant.objects.get(team__name="Ops Team").projects.add(octopus.project)
    with pytest.raises(Conflict, match=r"^Manual Deployment is in the scope of role grants of Ops Team, so"):
        project_delete(project=octopus.project, actor=root)
    assert Project.objects.filter(pk=octopus.project.pk).exists()
    assert not AuditEvent.objects.filter(action="project.deleted").exists()


def test_project_delete_refused_for_a_project_editor(octopus):
    editor = User.objects.create_user("edith")
    team = Team.objects.create(name="Editors")
    team.members.add(editor)
    RoleGrant.objects.create(team=team, role=Role.PROJECT_EDITOR)
    with pytest.raises(PermissionRefused):
        project_delete(project=octopus.project, actor=editor)
    assert Project.objects.filter(pk=octopus.project.pk).exists()


def test_unused_project_is_deleted_with_its_process_and_audited(octopus, root):
    project_id = octopus.project.pk
    project_delete(project=octopus.project, actor=root)

    assert not Project.objects.filter(pk=project_id).exists()
    assert not Step.objects.filter(project_id=project_id).exists()
    assert Team.objects.filter(name="DBA Team").exists()
    event = AuditEvent.objects.get(action="project.deleted")
    assert (event.project_id, event.project_label) == (project_id, "Manual Deployment")
    assert [step["name"] for step in event.changes["steps"]][:1] == ["Backup the database"]


def test_project_group_in_a_grant_scope_is_refused(octopus, root):
    spare = ProjectGroup.objects.create(name="Spare")
    RoleGrant.objects.get(team__name="Ops Team").project_groups.add(spare)
    with pytest.raises(Conflict) as refusal:
        project_group_delete(group=spare, actor=root)
    assert str(refusal.value) == "Spare is in the scope of role grants of Ops Team, so it cannot be deleted."
    assert ProjectGroup.objects.filter(pk=spare.pk).exists()
    assert not AuditEvent.objects.filter(action="project_group.deleted").exists()


def test_project_group_with_projects_is_refused(octopus, root):
    group = octopus.project.group
    with pytest.raises(Conflict) as refusal:
        project_group_delete(group=group, actor=root)
    assert str(refusal.value) == (
        "Default Project Group is the group of the projects Manual Deployment; is in the scope of role "
        "grants of DBA Team, Ops Team, Test Team, so it cannot be deleted."
    )


def test_project_group_delete_refused_for_a_deployer(octopus, sarah):
    spare = ProjectGroup.objects.create(name="Spare")
    with pytest.raises(PermissionRefused):
        project_group_delete(group=spare, actor=sarah)
    assert ProjectGroup.objects.filter(pk=spare.pk).exists()


def test_unused_project_group_is_deleted_and_audited(root):
    spare_id = ProjectGroup.objects.create(name="Spare").pk
    project_group_delete(group=ProjectGroup.objects.get(pk=spare_id), actor=root)
    assert not ProjectGroup.objects.filter(pk=spare_id).exists()
    assert AuditEvent.objects.filter(action="project_group.deleted", subject_id=str(spare_id)).exists()


def test_unused_lifecycle_is_deleted_and_audited(root_api, db):
    lifecycle = Lifecycle.objects.create(name="Spare")
    assert root_api.delete(f"{LIFECYCLES}{lifecycle.pk}/").status_code == 204
    assert AuditEvent.objects.filter(action="lifecycle.deleted", subject_id=str(lifecycle.pk)).exists()


def test_a_delete_outside_the_services_is_refused_too(octopus):
    with pytest.raises(ProtectedError):
        Team.objects.get(name="DBA Team").delete()
    with pytest.raises(ProtectedError):
        octopus.environments[0].delete()
    with pytest.raises(ProtectedError):
        ProjectGroup.objects.get(name="Default Project Group").delete()
