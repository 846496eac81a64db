from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from teams.models import ApiKey, AuditEvent


def run(*args) -> list[str]:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_prints_a_working_key_alone_on_the_last_line(sarah):
    lines = run("sarah", "--purpose", "CI pipeline")
    key = lines[-1]
    assert key.startswith("rm_") and " " not in key
    api_key = ApiKey.objects.get(user=sarah)
    assert api_key.purpose == "CI pipeline"
    assert api_key.expires_at is None
    assert key not in api_key.hashed_secret
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/me/").json()["username"] == "sarah"
    event = AuditEvent.objects.get(action="api_key.created")
    assert event.actor is None and event.actor_label == "system"


def test_expires_days_sets_expiry(sarah):
    run("sarah", "--expires-days", "30")
    api_key = ApiKey.objects.get(user=sarah)
    assert api_key.expires_at is not None
    assert 29 <= (api_key.expires_at - api_key.created_at).days <= 30


def test_unknown_user_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        run("nobody")
    assert not ApiKey.objects.exists()


def test_inactive_user_is_a_clear_error(sarah):
    sarah.is_active = False
    sarah.save(update_fields=["is_active"])
    with pytest.raises(CommandError, match="inactive"):
        run("sarah")
    assert not ApiKey.objects.exists()


def test_expires_days_must_be_positive(sarah):
    with pytest.raises(CommandError, match="at least 1"):
        run("sarah", "--expires-days", "0")
