"""The shipped step templates run for real: each is rendered with parameters and its script
run by the built-in runner (as RELMAN_SCRIPT_USER, which is why files live in ``script_dir``).
The PostgreSQL ones run against the test database on the PostgreSQL pass."""

import os
import pwd
import subprocess
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from processes.library import step_render
from processes.models import StepTemplate
from processes.services import StepSpec
from releases.runner import Job, LocalRunner, Outcome
from tests.releases.test_runner import Collected, needs_switch

pytestmark = needs_switch

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="pg_dump and psql need the PostgreSQL test database (RELMAN_TEST_DATABASE_URL)",
)


@pytest.fixture(autouse=True)
def library(db, shipped_templates):
    """The shipped library, also after a live-server test has emptied the tables."""


def run_template(name: str, parameters: dict, **variables: str) -> tuple[Outcome, Collected, str]:
    spec = step_render(
        StepSpec(name=name, template=StepTemplate.objects.get(name=name), parameters=parameters)
    )
    reporter = Collected()
    job = Job(
        script=spec.script,
        variables={},
        timeout_seconds=120,
        label="template-test",
        project_variables=variables,
    )
    return LocalRunner().run(job, reporter), reporter, spec.script


# --- HTTP health check ------------------------------------------------------------------------


def health(live_server, path: str = "/healthz", **parameters: str):
    return run_template(
        "HTTP health check",
        {"Url": f"{live_server.url}{path}", "Retries": "1", "DelaySeconds": "0", **parameters},
    )


def test_health_check_passes_on_the_expected_status_and_text(live_server):
    outcome, printed, _ = health(live_server, ExpectedText='"status": "ok"')
    assert outcome.exit_code == 0, printed.text
    assert f'OK: {live_server.url}/healthz answered 200 and contains ""status": "ok""' in printed.text


def test_health_check_fails_on_another_status_after_its_retries(live_server):
    outcome, printed, _ = health(live_server, ExpectedStatus="204")
    assert outcome.exit_code == 1
    assert "Attempt 1: " in printed.text
    assert (
        f"FAILED: {live_server.url}/healthz answered 200, not the expected 204, after 2 attempt(s)."
        in printed.text
    )


def test_health_check_fails_when_the_text_is_missing(live_server):
    outcome, printed, _ = health(live_server, ExpectedText="it's not there", Retries="0")
    assert outcome.exit_code == 1
    assert 'answered 200 but does not contain "it\'s not there", after 1 attempt(s).' in printed.text


def test_health_check_fails_clearly_when_nothing_answers(db):
    outcome, printed, _ = run_template(
        "HTTP health check", {"Url": "http://127.0.0.1:9/", "Retries": "0", "DelaySeconds": "0"}
    )
    assert outcome.exit_code == 1
    assert "FAILED: http://127.0.0.1:9/ answered no answer (000)" in printed.text


def test_health_check_refuses_a_retry_count_that_is_not_a_number(db):
    outcome, printed, _ = run_template("HTTP health check", {"Url": "http://x/", "Retries": "1; rm -rf ~"})
    assert outcome.exit_code == 2
    assert "Retries and DelaySeconds are whole numbers, not '1; rm -rf ~'." in printed.text


# --- Copy a folder ------------------------------------------------------------------------------


def folder(path: Path, files: dict[str, str]) -> Path:
    """A folder of files owned by the user scripts run as, as a deployment's folders are."""
    user = pwd.getpwnam(settings.RELMAN_SCRIPT_USER)
    path.mkdir()
    os.chown(path, user.pw_uid, user.pw_gid)
    for name, text in files.items():
        (path / name).write_text(text)
        os.chown(path / name, user.pw_uid, user.pw_gid)
    return path


@pytest.mark.parametrize("rsync", [True, False], ids=["rsync", "cp"])
def test_copy_a_folder_keeps_the_previous_content_as_a_backup(db, script_dir, rsync):
    source = folder(script_dir / "new app", {"app.txt": "version 2", "added.txt": "new"})
    destination = folder(script_dir / "live", {"app.txt": "version 1", "removed.txt": "old"})
    template = StepTemplate.objects.get(name="Copy a folder")
    script = step_render(
        StepSpec(
            name="Copy",
            template=template,
            parameters={"Source": f"{source}/", "Destination": str(destination)},
        )
    ).script
    if not rsync:
        # As on a machine without rsync: `command -v rsync` finds nothing.
        script = 'command() { [ "$2" = rsync ] && return 1; builtin command "$@"; }\n' + script
    reporter = Collected()
    outcome = LocalRunner().run(Job(script=script, variables={}, timeout_seconds=60, label="copy"), reporter)
    assert outcome.exit_code == 0, reporter.text

    assert sorted(p.name for p in destination.iterdir()) == ["added.txt", "app.txt"]
    assert (destination / "app.txt").read_text() == "version 2"
    (backup,) = script_dir.glob("live.backup-*")
    assert sorted(p.name for p in backup.iterdir()) == ["app.txt", "removed.txt"]
    assert (backup / "app.txt").read_text() == "version 1"
    assert f"Kept the previous content of {destination} in {backup}" in reporter.text


def test_copy_a_folder_into_a_new_destination_keeps_no_backup(db, script_dir):
    source = folder(script_dir / "src", {"a.txt": "a"})
    outcome, printed, _ = run_template(
        "Copy a folder", {"Source": str(source), "Destination": str(script_dir / "fresh" / "dest")}
    )
    assert outcome.exit_code == 0, printed.text
    assert (script_dir / "fresh" / "dest" / "a.txt").read_text() == "a"
    assert "Kept" not in printed.text


def test_copy_a_missing_folder_fails_naming_it(db, script_dir):
    outcome, printed, _ = run_template(
        "Copy a folder", {"Source": str(script_dir / "nope"), "Destination": str(script_dir / "d")}
    )
    assert outcome.exit_code == 1
    assert f"FAILED: there is no folder {script_dir}/nope to copy." in printed.text


# --- PostgreSQL ---------------------------------------------------------------------------------


def postgres_parameters() -> dict:
    database = connection.settings_dict
    return {
        "Host": database["HOST"] or "localhost",
        "Port": str(database["PORT"] or 5432),
        "Database": database["NAME"],
        "User": database["USER"] or "postgres",
        "Password": "#{DbPassword}",
    }


def psql(sql: str) -> str:
    database = connection.settings_dict
    result = subprocess.run(
        [
            "psql",
            "--no-psqlrc",
            "-At",
            "-h",
            database["HOST"] or "localhost",
            "-p",
            str(database["PORT"] or 5432),
            "-U",
            database["USER"] or "postgres",
            "-d",
            database["NAME"],
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        env={"PGPASSWORD": database["PASSWORD"] or "", "PATH": "/usr/bin:/bin"},
    )
    return result.stdout.strip()


@needs_postgresql
def test_postgresql_backup_writes_a_dump_pg_restore_reads(db, script_dir):
    output = script_dir / "backups" / "relman.dump"
    outcome, printed, script = run_template(
        "Back up a PostgreSQL database",
        {**postgres_parameters(), "OutputPath": str(output)},
        RELMAN_VAR_DBPASSWORD=connection.settings_dict["PASSWORD"] or "unused-by-trust",
    )
    assert outcome.exit_code == 0, printed.text
    assert "unused-by-trust" not in script
    assert f"Backup written: {output}" in printed.text
    listing = subprocess.run(
        ["pg_restore", "--list", str(output)], capture_output=True, text=True, check=True
    )
    assert "processes_steptemplate" in listing.stdout
    assert not output.with_name("relman.dump.partial").exists()


@needs_postgresql
def test_sql_migrations_run_in_name_order_and_stop_at_the_first_failing_file(db, script_dir):
    table = f"template_test_{uuid.uuid4().hex[:8]}"
    good = folder(
        script_dir / "good",
        {
            "002_fill.sql": f"INSERT INTO {table} VALUES (1);",
            "001_create.sql": f"CREATE TABLE {table} (n integer);",
        },
    )
    bad = folder(
        script_dir / "bad",
        {
            "003_more.sql": f"INSERT INTO {table} VALUES (3);",
            "002_broken.sql": f"INSERT INTO {table} VALUES (2); INSERT INTO nowhere VALUES (1);",
            "001_ok.sql": f"INSERT INTO {table} VALUES (10);",
        },
    )
    password = connection.settings_dict["PASSWORD"] or "unused"
    try:
        outcome, printed, _ = run_template(
            "Run SQL migrations",
            {**postgres_parameters(), "Folder": str(good)},
            RELMAN_VAR_DBPASSWORD=password,
        )
        assert outcome.exit_code == 0, printed.text
        assert printed.text.index("Applying 001_create.sql") < printed.text.index("Applying 002_fill.sql")
        assert "Applied 2 file(s)" in printed.text

        outcome, printed, _ = run_template(
            "Run SQL migrations",
            {**postgres_parameters(), "Folder": str(bad)},
            RELMAN_VAR_DBPASSWORD=password,
        )
        assert outcome.exit_code == 1
        assert (
            "FAILED: 002_broken.sql did not apply (rolled back); the files after it were not run."
            in printed.text
        )
        assert "003_more.sql" not in printed.text
        # 001 applied, 002 rolled back whole, 003 never ran.
        assert psql(f"SELECT string_agg(n::text, ',' ORDER BY n) FROM {table}") == "1,10"
    finally:
        psql(f"DROP TABLE IF EXISTS {table}")
