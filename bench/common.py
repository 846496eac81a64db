"""What the benchmark scripts share: a database of their own and Django set up on it."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]


def _admin_connection(url: str):
    import psycopg2

    parts = urlparse(url)
    admin = psycopg2.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
    )
    admin.autocommit = True
    return admin


def drop_database(url: str) -> None:
    """Drops the PostgreSQL database ``url`` names, if it exists."""
    admin = _admin_connection(url)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{urlparse(url).path.lstrip("/")}"')
    finally:
        admin.close()


def recreate_database(url: str, *, reuse: bool = False) -> bool:
    """Drops and creates the PostgreSQL database ``url`` names; with ``reuse``, keeps it
    when it exists already and returns True."""
    name = urlparse(url).path.lstrip("/")
    admin = _admin_connection(url)
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if reuse and cursor.fetchone() is not None:
                return True
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    return False


# The keys every benchmark's Django runs with: production settings require both.
BENCH_KEYS = {
    "RELMAN_SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnop",
    "RELMAN_ENCRYPTION_KEY": "YmVuY2htYXJrLW9ubHktZW5jcnlwdGlvbi1rZXktMDE=",
}


def setup_django(database_url: str, name: str) -> None:
    """Django with production settings on ``database_url``, for the test client, with a
    var dir of its own; migrates the database."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "relman.settings",
            **BENCH_KEYS,
            "RELMAN_HTTPS": "0",
            "RELMAN_DATABASE_URL": database_url,
            "RELMAN_ALLOWED_HOSTS": "testserver",
            "RELMAN_LOG_LEVEL": "WARNING",
            "RELMAN_VAR_DIR": tempfile.mkdtemp(prefix=f"relman-bench-{name}-"),
        }
    )
    Path(os.environ["RELMAN_VAR_DIR"], "static").mkdir()
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
