from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from teams.models import ApiKey
from teams.services import api_key_create, api_key_revoke

ME = "/api/v1/me/"


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_valid_key_authenticates_its_user_and_is_touched(sarah):
    api_key, key = api_key_create(user=sarah, purpose="CI", actor=None)
    response = bearer(key).get(ME)
    assert response.status_code == 200
    assert response.json()["username"] == "sarah"
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_no_credentials_is_401_with_bearer_challenge(db):
    response = APIClient().get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "key",
    ["rm_deadbeef_not-a-real-secret", "not-even-shaped-like-a-key", "rm_nope"],
)
def test_unknown_key_is_401(db, key):
    response = bearer(key).get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_wrong_secret_for_a_known_prefix_is_401(sarah):
    api_key, key = api_key_create(user=sarah, actor=None)
    assert bearer(f"rm_{api_key.prefix}_{'x' * 43}").get(ME).status_code == 401
    assert bearer(key).get(ME).status_code == 200


def test_revoked_key_is_401(sarah):
    api_key, key = api_key_create(user=sarah, actor=None)
    api_key_revoke(api_key=api_key, actor=None)
    assert bearer(key).get(ME).status_code == 401


def test_expired_key_is_401(sarah):
    api_key, key = api_key_create(user=sarah, expires_in=timedelta(days=1), actor=None)
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert bearer(key).get(ME).status_code == 401


def test_key_of_disabled_user_is_401(sarah):
    _, key = api_key_create(user=sarah, actor=None)
    sarah.is_active = False
    sarah.save(update_fields=["is_active"])
    response = bearer(key).get(ME)
    assert response.status_code == 401
    assert "disabled" in response.json()["detail"]


def test_empty_bearer_is_401(db):
    response = APIClient().get(ME, HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 401


def test_session_authentication_works_for_the_browser(sarah):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(sarah)
    assert client.get(ME).json()["username"] == "sarah"


def test_session_post_without_csrf_token_is_refused(sarah, release):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(sarah)
    response = client.post(f"/api/v1/releases/{release.pk}/deployments/", {"environment": "manual-test"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


@pytest.mark.parametrize(
    "path", ["environments", "lifecycles", "teams", "users", "targets", "step-templates"]
)
def test_configuration_is_not_read_without_credentials(db, path):
    response = APIClient().get(f"/api/v1/{path}/")
    assert response.status_code == 401
