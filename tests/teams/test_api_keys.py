"""API keys: stored hashed behind a prefix, shown once, working until they expire, are
revoked or their user is disabled."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from teams.models import ApiKey, AuditEvent
from teams.services import api_key_authenticate, api_key_create, api_key_revoke

ME = "/api/v1/me/"


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_key_is_stored_as_a_hash_behind_its_prefix(sarah):
    api_key, key = api_key_create(user=sarah, purpose="CI", actor=sarah)
    prefix, secret = key.removeprefix("rm_").split("_", 1)

    assert api_key.prefix == prefix
    stored = ApiKey.objects.filter(pk=api_key.pk).values()[0]
    assert secret not in str(stored)
    assert len(api_key.hashed_secret) == 64
    assert api_key_authenticate(key=key) == sarah


def test_key_works_until_it_expires(sarah):
    api_key, key = api_key_create(user=sarah, purpose="CI", expires_in=timedelta(days=1), actor=None)
    assert bearer(key).get(ME).status_code == 200

    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = bearer(key).get(ME)
    assert response.status_code == 401
    assert response.json()["detail"] == "The API key is unknown, revoked, expired, or its user is disabled."


def test_revoked_key_stops_at_once_and_revoking_again_changes_nothing(sarah, root):
    api_key, key = api_key_create(user=sarah, purpose="CI", actor=None)
    assert bearer(key).get(ME).status_code == 200

    api_key_revoke(api_key=api_key, actor=root, source_ip="10.0.0.9")
    api_key_revoke(api_key=api_key, actor=root)

    assert bearer(key).get(ME).status_code == 401
    event = AuditEvent.objects.get(action="api_key.revoked")
    assert (event.actor, event.source_ip, event.changes) == (
        root,
        "10.0.0.9",
        {"user": "sarah", "prefix": api_key.prefix},
    )


def test_disabled_users_keys_stop_working_and_come_back_with_the_user(sarah):
    _, key = api_key_create(user=sarah, purpose="CI", actor=None)
    sarah.is_active = False
    sarah.save(update_fields=["is_active"])
    assert bearer(key).get(ME).status_code == 401

    sarah.is_active = True
    sarah.save(update_fields=["is_active"])
    assert bearer(key).get(ME).status_code == 200


def test_use_is_recorded_at_most_once_a_minute(sarah):
    api_key, key = api_key_create(user=sarah, purpose="CI", actor=None)
    assert api_key.last_used_at is None

    bearer(key).get(ME)
    api_key.refresh_from_db()
    first = api_key.last_used_at
    assert first is not None
    bearer(key).get(ME)
    api_key.refresh_from_db()
    assert api_key.last_used_at == first


# --- the page -------------------------------------------------------------------------------


@pytest.fixture
def keys_url():
    return "/me/api-keys/"


def test_page_lists_my_keys_only(signed_in, sarah, olly, keys_url):
    mine, _ = api_key_create(user=sarah, purpose="Sarah's pipeline", actor=None)
    theirs, _ = api_key_create(user=olly, purpose="Olly's pipeline", actor=None)

    page = signed_in(sarah).get(keys_url).content.decode()

    assert "Sarah&#x27;s pipeline" in page and mine.prefix in page
    assert "Olly&#x27;s pipeline" not in page and theirs.prefix not in page


def test_created_key_is_shown_once(signed_in, sarah, keys_url):
    client = signed_in(sarah)
    response = client.post(
        keys_url, {"purpose": "Release pipeline", "expires_in_days": "30"}, REMOTE_ADDR="10.0.0.5"
    )

    assert response.status_code == 200
    api_key = ApiKey.objects.get(user=sarah)
    page = response.content.decode()
    key = re.search(rf"rm_{api_key.prefix}_[A-Za-z0-9_-]{{43}}", page).group()
    assert "no-store" in response["Cache-Control"]
    assert bearer(key).get(ME).json()["username"] == "sarah"
    assert api_key.expires_at == pytest.approx(timezone.now() + timedelta(days=30), abs=timedelta(minutes=1))
    assert key not in client.get(keys_url).content.decode()
    event = AuditEvent.objects.get(action="api_key.created")
    assert (event.actor, event.source_ip, event.changes["purpose"]) == (sarah, "10.0.0.5", "Release pipeline")


def test_key_without_expiry_never_expires(signed_in, sarah, keys_url):
    signed_in(sarah).post(keys_url, {"purpose": "Forever", "expires_in_days": ""})
    assert ApiKey.objects.get(user=sarah).expires_at is None


def test_key_needs_a_purpose(signed_in, sarah, keys_url):
    response = signed_in(sarah).post(keys_url, {"purpose": "", "expires_in_days": "30"})
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_revoke_asks_first_then_revokes(signed_in, sarah, keys_url):
    api_key, key = api_key_create(user=sarah, purpose="CI", actor=None)
    client = signed_in(sarah)
    url = f"{keys_url}{api_key.pk}/revoke/"

    asked = client.post(url)
    assert asked.status_code == 200
    assert f"Revoke the key {api_key.prefix}" in asked.content.decode()
    assert bearer(key).get(ME).status_code == 200

    done = client.post(url, {"confirmed": "1"})
    assert done.status_code == 302 and done["Location"] == keys_url
    assert bearer(key).get(ME).status_code == 401
    assert AuditEvent.objects.get(action="api_key.revoked").actor == sarah


def test_revoking_another_users_key_is_404(signed_in, sarah, olly, keys_url):
    theirs, key = api_key_create(user=olly, purpose="CI", actor=None)
    response = signed_in(sarah).post(f"{keys_url}{theirs.pk}/revoke/", {"confirmed": "1"})
    assert response.status_code == 404
    assert bearer(key).get(ME).status_code == 200


def test_page_needs_sign_in(client, keys_url):
    response = client.get(keys_url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
