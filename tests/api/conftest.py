"""API fixtures: clients that authenticate with real Bearer keys, two more personas, and
the Manual Deployment checklist at its first intervention.

Extra personas (on top of tests/conftest.py):
- edith: project editor on every project (team Editors)
- rick: release creator on the Default Project Group (team Release Managers)
"""

import pytest
from rest_framework.test import APIClient

from processes.models import ProjectGroup
from releases.models import Interruption
from releases.services import deployment_create, release_create
from teams.choices import Role
from teams.models import RoleGrant, Team, User
from teams.services import api_key_create


@pytest.fixture
def api(db):
    """``api(user)``: a client sending ``Authorization: Bearer <a new key of user>``;
    ``api()``: an anonymous client."""

    def client_for(user: User | None = None) -> APIClient:
        client = APIClient()
        if user is not None:
            _, key = api_key_create(user=user, purpose="tests", actor=None)
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client

    return client_for


@pytest.fixture
def edith(octopus):
    user = User.objects.create_user("edith", display_name="Edith")
    team = Team.objects.create(name="Editors")
    team.members.add(user)
    RoleGrant.objects.create(team=team, role=Role.PROJECT_EDITOR)
    return user


@pytest.fixture
def rick(octopus):
    user = User.objects.create_user("rick", display_name="Rick")
    team = Team.objects.create(name="Release Managers")
    team.members.add(user)
    grant = RoleGrant.objects.create(team=team, role=Role.RELEASE_CREATOR)
    grant.project_groups.add(ProjectGroup.objects.get(name="Default Project Group"))
    return user


@pytest.fixture
def manual_test(octopus):
    return octopus.environments[0]


@pytest.fixture
def manual_live(octopus):
    return octopus.environments[1]


@pytest.fixture
def release(octopus, root):
    return release_create(project=octopus.project, version="1.0.0", actor=root)


@pytest.fixture
def deployment(release, manual_test, root, engine):
    """Release 1.0.0 deployed to Manual Test, waiting at "Backup the database" (DBA Team)."""
    with engine():
        deployment = deployment_create(release=release, environment=manual_test, actor=root)
    deployment.refresh_from_db()
    return deployment


@pytest.fixture
def interruption(deployment):
    return Interruption.objects.get(deployment=deployment, pending=True)
