"""Relman settings, driven by ``RELMAN_*`` environment variables (see .env.example).

With nothing set, Relman runs in its embedded mode: SQLite in WAL mode and a filesystem
Celery broker under ``var/``. Production sets RELMAN_DATABASE_URL (PostgreSQL) and
RELMAN_BROKER_URL (Redis).
"""

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from relman.env import env_bool, env_email_url, env_int, env_list, env_rate, env_redis_url, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("RELMAN_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("RELMAN_DEBUG", False)
SECRET_KEY = env_str("RELMAN_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("RELMAN_SECRET_KEY must be set unless RELMAN_DEBUG=1.")
    SECRET_KEY = "relman-insecure-development-key-do-not-use-in-production-0123456789"

ALLOWED_HOSTS = env_list("RELMAN_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("RELMAN_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "relman",
    "teams",
    "lifecycles",
    "processes",
    "targets",
    "releases",
    "notifications",
    "insights",
    "variables",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "relman.requestid.RequestIdMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "relman.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "relman.urls"
WSGI_APPLICATION = "relman.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "teams.context_processors.navigation",
                "releases.context_processors.attention",
            ],
        },
    },
]


def _database(url: str) -> dict:
    config = dj_database_url.parse(
        url, conn_max_age=env_int("RELMAN_DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets the web server read while a worker writes; IMMEDIATE transactions take
        # the write lock up front, so concurrent writers queue instead of failing on upgrade.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    return config


DATABASE_URL = env_str("RELMAN_DATABASE_URL", f"sqlite:///{VAR_DIR / 'relman.sqlite3'}")
DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _cache(url: str) -> dict:
    if url:
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


# The default cache holds the API's throttling counts, which every web process must share:
# with several gunicorn workers or machines, RELMAN_CACHE_URL names a Redis database (not
# the broker's). Unset, each process counts in its own memory, which suits the embedded
# mode's single web process.
CACHE_URL = env_redis_url("RELMAN_CACHE_URL")
CACHES = {"default": _cache(CACHE_URL)}

AUTH_USER_MODEL = "teams.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("RELMAN_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# HTTPS hardening is on by default outside debug; RELMAN_HTTPS=0 serves plain HTTP
# (behind a TLS-terminating proxy on the same host, or for evaluation).
HTTPS = env_bool("RELMAN_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
# Probes (relman.health) answer over plain HTTP too: a supervisor checks the process directly.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# Behind a proxy, the caller's address is the last X-Forwarded-For entry (relman.http.client_ip).
RELMAN_BEHIND_PROXY = env_bool("RELMAN_BEHIND_PROXY", False)
if RELMAN_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
# A session ends this long after sign-in, not Django's two weeks: a forgotten browser on a
# shared machine should not keep the right to approve deployments.
SESSION_COOKIE_AGE = env_int("RELMAN_SESSION_HOURS", 12) * 3600
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "teams.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "relman.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON is the API's one body format (the process document also takes YAML, declared on
    # its own endpoint): a form or multipart body is refused with 415, and the schema lists
    # one request content type per operation, which is what generated clients handle.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # The answer's format is chosen by Accept alone, as the schema declares; an undeclared
    # ?format= would change it behind a generated client's back.
    "URL_FORMAT_OVERRIDE": None,
    "EXCEPTION_HANDLER": "relman.api.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Generous limits, per user (an API key acts as its user) and per anonymous address;
    # over them the API answers 429 with Retry-After. Counts live in the default cache.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    # DRF reads X-Forwarded-For the way relman.http.client_ip does: its last entry, only
    # behind a proxy.
    "NUM_PROXIES": 1 if RELMAN_BEHIND_PROXY else 0,
    "DEFAULT_THROTTLE_RATES": {
        "user": env_rate("RELMAN_API_RATE_USER", "6000/min"),
        "anon": env_rate("RELMAN_API_RATE_ANON", "120/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Relman API",
    "DESCRIPTION": "Release orchestration: releases, deployments and manual interventions.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every setting lives here, not on the schema view, so `make schema` (manage.py
    # spectacular) writes the very document /api/v1/schema/ serves.
    # OpenAPI 3.1: a nullable reference is JSON Schema's `oneOf: [$ref, {type: null}]`,
    # which strict validators accept (3.0 has no valid form for it).
    "OAS_VERSION": "3.1.0",
    # Request bodies get components of their own (ReleaseCreateRequest), without the
    # read-only fields of the answers, so a generated create call never asks for an id.
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "relman.api.document_errors",
    ],
    # Choice sets that share a field name (or a set shared by two fields) get one clear name.
    "ENUM_NAME_OVERRIDES": {
        "DeploymentStateEnum": "releases.choices.DeploymentState",
        "StepStateEnum": "releases.choices.StepState",
        "RoleEnum": "teams.choices.Role",
        # A manual step's answer and its timeout's answer are one set: proceed or abort.
        "ProceedOrAbortEnum": "releases.choices.InterruptionResult",
    },
}

# Celery. The embedded default is kombu's filesystem transport: a real broker that needs
# no server, so `manage.py serve` runs genuine worker and beat processes.
BROKER_DIR = VAR_DIR / "broker"
REDIS_VISIBILITY_TIMEOUT_SECONDS = 25 * 60 * 60
CELERY_BROKER_URL = env_str("RELMAN_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The filesystem transport polls; a short interval keeps Proceed → next step snappy.
        "polling_interval": 0.1,
    }
    # Remote control would leave a broadcast binding per worker ever started in the folder.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
else:
    # Redis hands a message that is not acknowledged within the visibility timeout to
    # another worker. Tasks are acknowledged when they end (acks_late), and an advance runs
    # a deployment's script steps, each for up to a day (processes.services
    # .MAX_TIMEOUT_SECONDS), so a shorter timeout would start a second copy beside a running
    # script. The engine refuses that copy a second claim (it finds the step running), but
    # redelivery must not be the normal course of a long step. Nothing waits this long for
    # the message of a worker that died: the sweep fails its script and re-advances the
    # deployment within RELMAN_STUCK_AFTER_SECONDS, and the late copy then changes nothing.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": REDIS_VISIBILITY_TIMEOUT_SECONDS}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# Two queues, served by separate workers, so that long scripts cannot hold up the work that
# keeps everything else moving: `steps` carries deployment advances (which run scripts);
# `system` carries the periodic sweep and audit sealer, and is where any other task goes
# by default — short work that must not wait behind a script.
CELERY_TASK_DEFAULT_QUEUE = "system"
CELERY_TASK_ROUTES = {
    "releases.tasks.deployment_advance_task": {"queue": "steps"},
    "releases.tasks.helper_execute_task": {"queue": "steps"},
    "releases.tasks.deployments_sweep_task": {"queue": "system"},
    "teams.tasks.audit_seal_task": {"queue": "system"},
    "notifications.tasks.event_fan_out_task": {"queue": "system"},
    "notifications.tasks.delivery_send_task": {"queue": "system"},
    "notifications.tasks.notifications_sweep_task": {"queue": "system"},
}
# Celery's Django fix-up would close the database connection after every task; Django's
# own rules decide instead (relman.celery.recycle_database_connections).
CELERY_DB_REUSE_MAX = 1_000_000

# How often the sweep looks for deployments that should be moving and are not, and how
# long a deployment may sit still (or a running script go without a heartbeat) before
# the sweep acts on it.
RELMAN_SWEEP_INTERVAL_SECONDS = env_int("RELMAN_SWEEP_INTERVAL_SECONDS", 30)
RELMAN_STUCK_AFTER_SECONDS = env_int("RELMAN_STUCK_AFTER_SECONDS", 60)
RELMAN_SCRIPT_HEARTBEAT_SECONDS = env_int("RELMAN_SCRIPT_HEARTBEAT_SECONDS", 5)
RELMAN_SCRIPT_SHELL = env_str("RELMAN_SCRIPT_SHELL", "/bin/bash")
# The built-in runner (releases.runner.LocalRunner) runs script steps without target roles
# on the `steps` workers, as RELMAN_SCRIPT_USER: an unprivileged user, never the worker's,
# so a script cannot read the worker's secrets. A worker that cannot switch users refuses
# to run scripts. Off, such steps fail (only agents run scripts).
RELMAN_BUILTIN_RUNNER = env_bool("RELMAN_BUILTIN_RUNNER", True)
RELMAN_SCRIPT_USER = env_str("RELMAN_SCRIPT_USER", "nobody")
# For a developer who is not root: scripts run as the worker's own user and can read its
# secrets. Refused outside debug mode.
RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER = env_bool("RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER", False)
if RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER and not DEBUG:
    raise ImproperlyConfigured(
        "RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER=1 lets every script read the worker's secrets: "
        "it is allowed only with RELMAN_DEBUG=1, on a development machine."
    )
# Agents on targets (SPEC §9): a target is offline when its agent was not seen for this
# long (an idle agent's poll is answered well within a third of it); a run whose agent
# stopped heartbeating for RELMAN_AGENT_LOST_AFTER_SECONDS is failed by the sweep.
RELMAN_AGENT_OFFLINE_AFTER_SECONDS = env_int("RELMAN_AGENT_OFFLINE_AFTER_SECONDS", 60)
RELMAN_AGENT_LOST_AFTER_SECONDS = env_int("RELMAN_AGENT_LOST_AFTER_SECONDS", 60)
if RELMAN_AGENT_OFFLINE_AFTER_SECONDS < 3:
    raise ImproperlyConfigured("RELMAN_AGENT_OFFLINE_AFTER_SECONDS must be at least 3.")
# The output one run keeps in the task log: its first lines as they come, then its last
# RELMAN_AGENT_OUTPUT_TAIL_LINES when it ends, with a marker counting what was left out.
RELMAN_AGENT_OUTPUT_MAX_LINES = env_int("RELMAN_AGENT_OUTPUT_MAX_LINES", 10_000)
RELMAN_AGENT_OUTPUT_TAIL_LINES = 1_000
RELMAN_AGENT_LINE_MAX_CHARS = 8_192
# How often the sealer chains new audit events into the hash chain (teams.audit).
RELMAN_AUDIT_SEAL_SECONDS = env_int("RELMAN_AUDIT_SEAL_SECONDS", 5)
if RELMAN_AUDIT_SEAL_SECONDS < 1:
    raise ImproperlyConfigured("RELMAN_AUDIT_SEAL_SECONDS must be at least 1.")
# Signs the audit digests kept outside the database (audit_digest, verify_audit --digest).
RELMAN_AUDIT_KEY = env_str("RELMAN_AUDIT_KEY")

CELERY_BEAT_SCHEDULE = {
    # Re-advances deployments whose message was lost and fails scripts whose worker died.
    "sweep-stuck-deployments": {
        "task": "releases.tasks.deployments_sweep_task",
        "schedule": float(RELMAN_SWEEP_INTERVAL_SECONDS),
    },
    # Chains the audit events recorded since the last run; a run missed while no worker
    # was up is dropped (the next one seals everything), not queued.
    "seal-audit-events": {
        "task": "teams.tasks.audit_seal_task",
        "schedule": float(RELMAN_AUDIT_SEAL_SECONDS),
        "options": {"expires": float(RELMAN_AUDIT_SEAL_SECONDS)},
    },
    # Sends the notifications whose retry is due, and any a lost message left behind.
    "send-due-notifications": {
        "task": "notifications.tasks.notifications_sweep_task",
        "schedule": float(RELMAN_SWEEP_INTERVAL_SECONDS),
        "options": {"expires": float(RELMAN_SWEEP_INTERVAL_SECONDS)},
    },
}

RELMAN_NOTES_MAX_LENGTH = 20_000
# A step's instructions and script, and a process document imported through the API
# (YAML or JSON): far above any real process, low enough that one request cannot fill the
# database or a worker's memory.
RELMAN_INSTRUCTIONS_MAX_LENGTH = 20_000
RELMAN_SCRIPT_MAX_LENGTH = 100_000
RELMAN_PROCESS_DOCUMENT_MAX_BYTES = 1_048_576

# Logs go to standard error, as text or, with RELMAN_LOG_FORMAT=json, as one JSON object
# per line naming the request id, user and deployment where known (relman.logs). Celery
# workers write the same format (relman.celery).
RELMAN_LOG_FORMAT = env_str("RELMAN_LOG_FORMAT", "text")
if RELMAN_LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"RELMAN_LOG_FORMAT must be text or json; got {RELMAN_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "relman.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": RELMAN_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("RELMAN_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
if RELMAN_LOG_FORMAT == "json":
    # The development server's request lines have a text handler of their own.
    LOGGING["loggers"]["django.server"] = {"handlers": ["console"], "level": "INFO", "propagate": False}
# /metrics answers only to `Authorization: Bearer <this token>`; unset, it does not exist.
RELMAN_METRICS_TOKEN = env_str("RELMAN_METRICS_TOKEN")

# Sign-in throttling (django-axes): after RELMAN_LOGIN_FAILURE_LIMIT failed sign-ins for one
# username from one address, that pair is locked out for RELMAN_LOGIN_COOLOFF_MINUTES (each
# further try restarts the wait). API keys do not sign in, so they are not counted.
INSTALLED_APPS += ["axes"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Axes' middleware turns a refused sign-in into the lockout page; it goes last.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AXES_FAILURE_LIMIT = env_int("RELMAN_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("RELMAN_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "relman.http.client_ip"
AXES_LOCKOUT_TEMPLATE = "teams/locked_out.html"
# No admin pages for the attempt logs: `manage.py axes_reset_username <username>` (or
# `axes_reset_ip <address>`, `axes_reset`) lifts a lockout before its cool-off ends.
AXES_ENABLE_ADMIN = False
# Axes announces itself at every start; its sign-in failures still log at INFO.
LOGGING["loggers"]["axes.apps"] = {"level": "WARNING"}

# Notifications (notifications app). Mail goes through RELMAN_EMAIL_URL's SMTP server; in
# debug mode without one, the console backend prints it; otherwise no mail is sent.
# Links in mails and webhook bodies start with RELMAN_BASE_URL.
EMAIL_SMTP = env_email_url("RELMAN_EMAIL_URL")
globals().update(EMAIL_SMTP)
if EMAIL_SMTP:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
elif DEBUG:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
RELMAN_EMAIL_ENABLED = bool(EMAIL_SMTP) or DEBUG
DEFAULT_FROM_EMAIL = env_str("RELMAN_EMAIL_FROM", "Relman <relman@localhost>")
RELMAN_BASE_URL = env_str("RELMAN_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# A step with remind_after_minutes is reminded at most this many times while it waits.
RELMAN_REMINDER_LIMIT = env_int("RELMAN_REMINDER_LIMIT", 3)
# Seconds one mail or webhook call may take before it counts as a failed attempt.
RELMAN_NOTIFICATION_TIMEOUT_SECONDS = env_int("RELMAN_NOTIFICATION_TIMEOUT_SECONDS", 10)
# Sensitive variable values and webhook secrets are encrypted with this Fernet key
# (relman/crypto.py). While rotating, the previous keys go in RELMAN_ENCRYPTION_OLD_KEYS
# until `manage.py rotate_encryption_key` has re-encrypted every value.
RELMAN_ENCRYPTION_KEY = env_str("RELMAN_ENCRYPTION_KEY")
RELMAN_ENCRYPTION_OLD_KEYS = env_list("RELMAN_ENCRYPTION_OLD_KEYS", [])
# Debug mode without a key encrypts with one derived from SECRET_KEY; a system check says so.
RELMAN_ENCRYPTION_KEY_DERIVED = not RELMAN_ENCRYPTION_KEY
if RELMAN_ENCRYPTION_KEY_DERIVED:
    if not DEBUG:
        raise ImproperlyConfigured(
            "RELMAN_ENCRYPTION_KEY must be set unless RELMAN_DEBUG=1; generate one with "
            '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.'
        )
    RELMAN_ENCRYPTION_KEY = base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
