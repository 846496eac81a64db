"""Page fixtures: the Manual Deployment checklist deployed to Manual Test and waiting at
its first intervention, and a second DBA Team member to race sarah.

Extra persona (on top of tests/conftest.py):
- dora: a second member of DBA Team (deployer)
"""

import pytest

from releases.models import Deployment, Interruption
from releases.services import deployment_create, release_create
from teams.models import Team, User


@pytest.fixture
def dora(octopus):
    user = User.objects.create_user("dora", display_name="Dora")
    Team.objects.get(name="DBA Team").members.add(user)
    return user


@pytest.fixture
def waiting(octopus, root, engine) -> Deployment:
    """Release 1.0.0 of Manual Deployment, deployed to Manual Test by root, waiting at
    "Backup the database" (DBA Team)."""
    with engine():
        release = release_create(
            project=octopus.project, version="1.0.0", notes="First **tracked** release.", actor=root
        )
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    deployment.refresh_from_db()
    return deployment


@pytest.fixture
def backup(waiting) -> Interruption:
    """The pending "Backup the database" intervention of ``waiting``."""
    return Interruption.objects.get(deployment=waiting, pending=True)


@pytest.fixture
def signed_in(client):
    """``signed_in(user)``: the test client, signed in as ``user``."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in
