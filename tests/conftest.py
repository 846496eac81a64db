"""Shared fixtures: the demo scenarios and the personas every refusal is tested with.

Personas (on the Manual Deployment project):
- sarah: member of DBA Team, the responsible team of the first two steps (deployer)
- olly: member of Ops Team, another team (deployer)
- vera: a viewer (team Auditors holds the viewer role on every project)
- editor: Edie, project editor on every project (team Editors)
- oscar: an outsider, in no team
- root: a superuser in no team
"""

import importlib
import shutil
import tempfile
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection
from rest_framework.test import APIClient

from relman import demo
from teams.choices import Role
from teams.models import RoleGrant, Team, User


@pytest.fixture
def octopus(db, shipped_templates):
    """The Manual Deployment demo; its last step's helper script is the shipped HTTP
    health check."""
    return demo.octopus_demo(password=None)


@pytest.fixture
def goodhealth(db):
    return demo.goodhealth_demo(password=None)


@pytest.fixture
def sarah(octopus):
    return octopus.users["sarah"]


@pytest.fixture
def olly(octopus):
    return octopus.users["olly"]


@pytest.fixture
def tina(octopus):
    return octopus.users["tina"]


@pytest.fixture
def vera(db):
    user = User.objects.create_user("vera", display_name="Vera")
    team = Team.objects.create(name="Auditors")
    team.members.add(user)
    RoleGrant.objects.create(team=team, role=Role.VIEWER)
    return user


@pytest.fixture
def editor(db):
    """Edie: project editor on every project (team Editors)."""
    user = User.objects.create_user("edie", display_name="Edie")
    team = Team.objects.create(name="Editors")
    team.members.add(user)
    RoleGrant.objects.create(team=team, role=Role.PROJECT_EDITOR)
    return user


@pytest.fixture
def oscar(db):
    return User.objects.create_user("oscar", display_name="Oscar")


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", email="root@example.com", password=None, display_name="Root")


@pytest.fixture
def engine(django_capture_on_commit_callbacks):
    """``with engine(): ...`` runs the Celery messages the block sends once it commits,
    in this process (tasks are eager in tests), as a worker would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def script_dir():
    """A folder that script steps may write in and read from, for the test to look at
    afterwards. Scripts run as RELMAN_SCRIPT_USER, which cannot reach ``tmp_path`` (private
    to the user running the tests)."""
    path = Path(tempfile.mkdtemp(prefix="relman-test-scripts-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def shipped_templates():
    """The shipped step template library: a data migration made it, but a transactional
    test (live server, browser) empties every table after it. Request the database first."""
    importlib.import_module("processes.migrations.0009_shipped_step_templates").ship(apps, None)


@pytest.fixture(autouse=True)
def _audit_trail_flushable(request):
    """Lets a transactional test's reset empty the audit trail on PostgreSQL.

    After a test with ``transaction=True``, ``transactional_db`` or ``live_server``,
    pytest-django empties every table with ``flush``: one TRUNCATE, which the audit trail
    refuses (teams migration 0005) unless the session sets ``relman.audit_maintenance``,
    the escape hatch for a database owner's maintenance. This sets it on the test's
    connection just before that flush — the test itself always runs with the refusal in
    force — and Django closes the connection right after, taking the setting with it.
    """
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction", False)) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if not transactional:
        yield
        return
    # Set up the database first, so that this is torn down (and runs) before the flush.
    request.getfixturevalue("transactional_db")
    yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET relman.audit_maintenance = 'on'")


@pytest.fixture
def agent_client():
    """``agent_client(token)``: an API client authenticating as a target's agent."""

    def client_for(token: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return client_for
