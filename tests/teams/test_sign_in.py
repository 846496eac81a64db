"""Sign-in hardening: repeated failures lock a username out from that address (django-axes),
and production settings pass Django's deployment checklist."""

import os
import secrets
import subprocess
import sys

from cryptography.fernet import Fernet
from django.conf import settings
from django.urls import reverse

LOGIN = reverse("login")


def _sign_in(client, username: str, password: str, address: str = "10.1.1.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_failures_up_to_the_limit_lock_the_username_out_from_that_address(client, sarah):
    sarah.set_password("right-horse-battery")
    sarah.save(update_fields=["password"])
    limit = settings.AXES_FAILURE_LIMIT

    for _ in range(limit - 1):
        response = _sign_in(client, "sarah", "wrong")
        assert response.status_code == 200  # the form again, with its error
    assert _sign_in(client, "sarah", "wrong").status_code == 429

    locked = _sign_in(client, "sarah", "right-horse-battery")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session

    # The lock is for this username from this address only.
    assert _sign_in(client, "sarah", "right-horse-battery", address="10.2.2.2").status_code == 302
    client.logout()
    assert _sign_in(client, "olly", "wrong").status_code == 200


def test_a_successful_sign_in_clears_earlier_failures(client, sarah):
    sarah.set_password("right-horse-battery")
    sarah.save(update_fields=["password"])
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, "sarah", "wrong")
    assert _sign_in(client, "sarah", "right-horse-battery").status_code == 302
    client.logout()

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _sign_in(client, "sarah", "wrong").status_code == 200


def test_api_keys_and_sessions_are_not_affected_by_a_lockout(client, sarah, api):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "sarah", "wrong", address="127.0.0.1")
    assert api(sarah).get("/api/v1/me/").status_code == 200
    client.force_login(sarah)
    assert client.get(reverse("dashboard")).status_code == 200


def test_axes_is_configured_to_lock_username_and_address_together():
    if "RELMAN_LOGIN_COOLOFF_MINUTES" not in os.environ:
        assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    if "RELMAN_LOGIN_FAILURE_LIMIT" not in os.environ:
        assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {name: value for name, value in os.environ.items() if not name.startswith(("RELMAN_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="relman.settings",
        RELMAN_SECRET_KEY=secrets.token_urlsafe(50),
        RELMAN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        RELMAN_ALLOWED_HOSTS="relman.example.com",
        RELMAN_VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_lockout_page_says_why_and_for_how_long(client, sarah):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = _sign_in(client, "sarah", "wrong")
    page = response.content.decode()
    assert response.status_code == 429
    assert "Sign-in paused" in page
    assert f"{settings.AXES_FAILURE_LIMIT} failed sign-ins for sarah" in page
