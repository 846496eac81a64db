"""Test settings: the suite runs on SQLite by default, and on PostgreSQL + Redis when
RELMAN_TEST_DATABASE_URL / RELMAN_TEST_BROKER_URL / RELMAN_TEST_CACHE_URL are set (CI runs
both)."""

import os

os.environ.setdefault("RELMAN_SECRET_KEY", "relman-tests-only-secret-key-0123456789-abcdefghij")
os.environ.setdefault("RELMAN_HTTPS", "0")
# A fixed test key (Fernet.generate_key()), so worker processes decrypt what tests wrote.
os.environ.setdefault("RELMAN_ENCRYPTION_KEY", "kN0b3q7wJ5c0o8rP2m3xQ9v1Y4t6u8i0a2s4d6f8g0h=")

from relman.env import env_redis_url  # noqa: E402
from relman.settings import *  # noqa: E402,F403
from relman.settings import REDIS_VISIBILITY_TIMEOUT_SECONDS, VAR_DIR, _cache, _database  # noqa: E402

DEBUG = False
(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)
ALLOWED_HOSTS = ["*"]

TEST_DATABASE_URL = os.environ.get("RELMAN_TEST_DATABASE_URL", "")
if TEST_DATABASE_URL:
    DATABASES = {"default": _database(TEST_DATABASE_URL)}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES = {"default": _database(f"sqlite:///{VAR_DIR / 'test.sqlite3'}")}
    # A file (not :memory:) so that worker processes started by integration tests share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-relman.sqlite3")}

TEST_BROKER_URL = os.environ.get("RELMAN_TEST_BROKER_URL", "")
# Unit tests run tasks in-process (eagerly) once the enqueuing transaction commits;
# integration tests start real worker processes against CELERY_BROKER_URL instead.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
if TEST_BROKER_URL:
    CELERY_BROKER_URL = TEST_BROKER_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": REDIS_VISIBILITY_TIMEOUT_SECONDS}
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = True

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The PostgreSQL + Redis pass (.ci/run) counts API throttling in Redis, as production does,
# on a database of its own (clearing the cache empties the whole database). Only when named:
# a database derived from the broker's could be another run's broker.
CACHES = {"default": _cache(env_redis_url("RELMAN_TEST_CACHE_URL"))}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
RELMAN_SCRIPT_HEARTBEAT_SECONDS = 1
LOGGING = {"version": 1, "disable_existing_loggers": False}
# The suite sends thousands of API requests a minute from one address (the schemathesis
# run most of all); tests/api/test_api_throttling.py proves the 429 with a low rate.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": None, "anon": None}}  # noqa: F405
# No mail unless a test turns it on (tests/notifications start a real SMTP server).
RELMAN_EMAIL_ENABLED = False
