"""Fixtures for people, keys and the audit trail.

Extra personas (on top of tests/conftest.py):
- audrey: an auditor of everything (team Audit Office)
- scott: an auditor of the GoodHealth project only (team GoodHealth Audit)
"""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from releases.models import Deployment, Interruption
from releases.services import deployment_create, release_create
from teams.choices import Role
from teams.models import RoleGrant, Team, User
from teams.services import api_key_create


def _team_with_role(name: str, user: User, role: str) -> RoleGrant:
    team = Team.objects.create(name=name)
    team.members.add(user)
    return RoleGrant.objects.create(team=team, role=role)


@pytest.fixture
def audrey(db):
    user = User.objects.create_user("audrey", display_name="Audrey")
    _team_with_role("Audit Office", user, Role.AUDITOR)
    return user


@pytest.fixture
def scott(goodhealth):
    user = User.objects.create_user("scott", display_name="Scott")
    grant = _team_with_role("GoodHealth Audit", user, Role.AUDITOR)
    grant.projects.add(goodhealth.project)
    return user


@pytest.fixture
def signed_in(client):
    """``signed_in(user)``: the test client, signed in as ``user``."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def api(db):
    """``api(user)``: a client sending a new API key of ``user``; ``api()``: anonymous."""

    def client_for(user: User | None = None) -> APIClient:
        client = APIClient()
        if user is not None:
            _, key = api_key_create(user=user, purpose="tests", actor=None)
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client

    return client_for


@pytest.fixture
def waiting(octopus, root, engine) -> Deployment:
    """Release 1.0.0 of Manual Deployment deployed to Manual Test by root, waiting at
    "Backup the database" (DBA Team)."""
    with engine():
        release = release_create(project=octopus.project, version="1.0.0", actor=root)
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    deployment.refresh_from_db()
    return deployment


@pytest.fixture
def backup(waiting) -> Interruption:
    return Interruption.objects.get(deployment=waiting, pending=True)


def _execute(sql: str, params: list | tuple = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))


@pytest.fixture
def raw_sql(db):
    """``raw_sql(sql, params)``: one statement straight to the database, as someone with
    database access would send it (the models' own refusals do not apply)."""
    return _execute


@pytest.fixture
def tamper(db):
    """``tamper(sql, params)``: like ``raw_sql``, with PostgreSQL's append-only trigger
    switched off for the statement (inside the test's transaction, so it comes back)."""

    def run(sql: str, params: list | tuple = ()) -> None:
        if connection.vendor != "postgresql":
            _execute(sql, params)
            return
        # ALTER TABLE refuses to run while the transaction's deferred foreign-key checks on
        # the table are pending: run them now.
        _execute("SET CONSTRAINTS ALL IMMEDIATE")
        _execute("ALTER TABLE teams_auditevent DISABLE TRIGGER teams_auditevent_append_only")
        try:
            _execute(sql, params)
        finally:
            _execute("ALTER TABLE teams_auditevent ENABLE TRIGGER teams_auditevent_append_only")
            _execute("SET CONSTRAINTS ALL DEFERRED")

    return run
