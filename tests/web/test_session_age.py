"""A session ends RELMAN_SESSION_HOURS after sign-in (default 12), so a forgotten browser
does not stay signed in for Django's default two weeks."""

import subprocess
import sys


def _session_age(env: dict[str, str]) -> int:
    code = "from django.conf import settings; print(settings.SESSION_COOKIE_AGE)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={"DJANGO_SETTINGS_MODULE": "relman.settings", "RELMAN_DEBUG": "1", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip())


def test_sessions_last_twelve_hours_by_default():
    assert _session_age({}) == 12 * 3600


def test_session_hours_from_the_environment():
    assert _session_age({"RELMAN_SESSION_HOURS": "2"}) == 2 * 3600
