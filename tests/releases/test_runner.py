"""The built-in runner runs a script as RELMAN_SCRIPT_USER, never as the worker's user:
the script cannot read the worker's environment, files or /proc entries. It refuses, with
the way to fix it, when it cannot switch users, and does nothing when turned off.

CI runs the suite as root, so the switch is real. A developer who is not root runs it
with RELMAN_DEBUG=1 RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER=1 (README, "Who can run code
where"); the tests that need the switch then skip."""

import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from django.conf import settings

from processes.choices import StepKind
from processes.models import Step
from releases.choices import DeploymentState, StepState
from releases.runner import RUNNER_OFF, UNSAFE_AS_WORKER_USER, Job, LocalRunner, Outcome
from releases.services import deployment_create, release_create

ROOT = Path(settings.BASE_DIR)
JOB_VARIABLES = {"RELMAN_PROJECT", "RELMAN_RELEASE_VERSION", "RELMAN_ENVIRONMENT", "RELMAN_DEPLOYMENT_ID"}
SWITCHES = os.geteuid() == 0 and not settings.RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER
needs_switch = pytest.mark.skipif(
    not SWITCHES, reason="runs scripts as RELMAN_SCRIPT_USER: the tests must run as root"
)


class Collected:
    """A reporter that keeps what the script printed."""

    def __init__(self):
        self.printed: list[tuple[str, str]] = []

    def lines(self, lines: list[tuple[str, str]]) -> None:
        self.printed += lines

    def heartbeat(self) -> bool:
        return True

    @property
    def text(self) -> str:
        return "\n".join(text for _, text in self.printed)


def run(script: str, **variables: str) -> tuple[Outcome, Collected]:
    reporter = Collected()
    job = Job(script=script, variables=variables, timeout_seconds=60, label="test")
    return LocalRunner().run(job, reporter), reporter


def relman_process(code: str, var_dir: Path, prefix: Sequence[str] = (), **variables: str):
    """Runs Python ``code`` in a process of its own with production settings: no test
    setting, only the environment ``variables``."""
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("RELMAN_")},
        "DJANGO_SETTINGS_MODULE": "relman.settings",
        "RELMAN_SECRET_KEY": "runner-test-secret-key-0123456789-abcdefghijklmnop",
        "RELMAN_ENCRYPTION_KEY": "kN0b3q7wJ5c0o8rP2m3xQ9v1Y4t6u8i0a2s4d6f8g0h=",
        "RELMAN_VAR_DIR": str(var_dir),
        **variables,
    }
    command = [*prefix, sys.executable, "-c", code]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def only_script(project, script: str) -> None:
    project.steps.all().delete()
    Step.objects.create(project=project, name="Deploy", position=1, kind=StepKind.SCRIPT, script=script)


def fields(text: str) -> dict[str, str]:
    """``key=value`` and ``Key:<tab>value`` lines of the output, by key."""
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=") if "=" in line else line.partition(":")
        if sep:
            found[key.strip()] = value.strip()
    return found


@needs_switch
def test_script_runs_as_the_script_user_with_its_own_folder_no_capability_and_nothing_of_the_worker():
    nobody = pwd.getpwnam(settings.RELMAN_SCRIPT_USER)
    outcome, output = run(
        'echo "uid=$(id -u)"; echo "groups=$(id -G)"; echo "owner=$(stat -c %u "$HOME")"\n'
        'echo "pwd=$(pwd)"; touch written-here\n'
        "grep -E '^(CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs):' /proc/self/status\n"
        "echo ---; env",
        RELMAN_PROJECT="Octopus",
    )
    assert outcome == Outcome(exit_code=0), output.text
    seen = fields(output.text)
    assert (seen["uid"], seen["groups"], seen["owner"]) == (
        str(nobody.pw_uid),
        str(nobody.pw_gid),
        str(nobody.pw_uid),
    )
    assert seen["pwd"] == seen["HOME"] and seen["HOME"].startswith(tempfile.gettempdir())
    assert not Path(seen["HOME"]).exists(), "the work folder is removed afterwards"
    for capabilities in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(seen[capabilities], 16) == 0, capabilities
    assert seen["NoNewPrivs"] == "1"
    environment = output.text.split("---\n", 1)[1]
    names = {line.split("=", 1)[0] for line in environment.splitlines()}
    assert names <= {"PATH", "LANG", "HOME", "PWD", "SHLVL", "_", "RELMAN_PROJECT"}, names
    assert settings.SECRET_KEY not in output.text


@needs_switch
@pytest.mark.django_db
def test_script_cannot_read_the_worker_files_left_readable_by_a_default_umask(settings):
    var_dir = Path(tempfile.mkdtemp())
    try:
        var_dir.chmod(0o755)
        env_file = var_dir / "relman.env"
        env_file.write_text(f"RELMAN_SECRET_KEY={settings.SECRET_KEY}\n")
        env_file.chmod(0o644)
        settings.VAR_DIR = var_dir
        database = Path(settings.DATABASES["default"]["NAME"])
        sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
        if sqlite:
            database.chmod(0o644)
        outcome, output = run(f"ls {var_dir}; cat {env_file}; head -c 15 {database}; echo; true")
        assert outcome.exit_code == 0, output.text
        assert settings.SECRET_KEY not in output.text
        assert "relman.env" not in output.text.replace(str(env_file), "")
        assert "SQLite format" not in output.text
        assert stat.S_IMODE(var_dir.stat().st_mode) == 0o700
        if sqlite:
            assert stat.S_IMODE(database.stat().st_mode) == 0o600
    finally:
        shutil.rmtree(var_dir)


def test_a_worker_that_cannot_switch_users_refuses_and_runs_nothing(tmp_path, script_dir):
    """Really without the capabilities: a worker process started as root without
    CAP_SETUID and CAP_SETGID (as a container that drops them), or as a user who is not
    root."""
    marker = script_dir / "ran"
    code = f"""
import django, json
django.setup()
from releases.runner import Job, LocalRunner

class Collected:
    printed = []
    def lines(self, lines): self.printed += lines
    def heartbeat(self): return True

reporter = Collected()
outcome = LocalRunner().run(Job(script="touch {marker}", variables={{}}, timeout_seconds=10, label="t"), reporter)
print(json.dumps({{"refusal": outcome.refusal, "exit_code": outcome.exit_code, "printed": reporter.printed}}))
"""
    without_capabilities = []
    if os.geteuid() == 0:
        without_capabilities = [shutil.which("setpriv"), "--bounding-set=-setuid,-setgid", "--"]
    result = relman_process(code, tmp_path, prefix=without_capabilities)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["exit_code"] is None and answer["printed"] == []
    refusal = answer["refusal"]
    assert refusal.startswith("The built-in runner refuses to run this script: the worker runs as ")
    worker = "root" if os.geteuid() == 0 else ""
    assert f"the worker runs as {worker}" in refusal and refusal.count("CAP_SETGID, CAP_SETUID,") == 1
    assert "it never runs a script as itself" in refusal
    for remedy in ("Run the worker as root", "target roles", "RELMAN_BUILTIN_RUNNER=0"):
        assert remedy in refusal
    assert not marker.exists()


@pytest.mark.parametrize("user", ["no-such-user-for-relman", "root"])
def test_the_script_user_must_exist_and_be_another_than_root(settings, script_dir, user):
    settings.RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER = False
    settings.RELMAN_SCRIPT_USER = user
    outcome, output = run(f"touch {script_dir / 'ran'}")
    assert outcome.exit_code is None and output.printed == []
    expected = (
        "names no user of this worker's machine" if user != "root" else "RELMAN_SCRIPT_USER is root, root"
    )
    assert expected in outcome.refusal
    assert not (script_dir / "ran").exists()


def test_builtin_runner_off_fails_the_step_with_the_reason_and_runs_nothing(
    settings, octopus, root, engine, script_dir
):
    settings.RELMAN_BUILTIN_RUNNER = False
    only_script(octopus.project, f"touch {script_dir / 'ran'}")
    with engine():
        release = release_create(project=octopus.project, version="1.0.0", actor=root)
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.FAILED
    assert deployment.steps.get().state == StepState.FAILED
    assert RUNNER_OFF in deployment.log_entries.values_list("message", flat=True)
    assert not (script_dir / "ran").exists()


def test_unsafe_mode_says_so_in_every_run_and_is_refused_outside_debug(settings, tmp_path):
    settings.RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER = True
    outcome, output = run("id -u")
    assert outcome.exit_code == 0
    assert output.printed == [("warning", UNSAFE_AS_WORKER_USER), ("info", str(os.geteuid()))]

    result = relman_process(
        "import django; django.setup()", tmp_path, RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER="1"
    )
    assert result.returncode != 0
    assert "it is allowed only with RELMAN_DEBUG=1" in result.stderr


@needs_switch
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_script_on_a_real_worker_cannot_read_its_secret_key_or_database_url(
    octopus, root, workers, wait_for_state
):
    """Every way in from the script: its parent's and pid 1's environment, every process's,
    its own, the parent's command line and open files, and the SQLite database (left
    readable by a default umask: the worker makes it private)."""
    database = Path(settings.DATABASES["default"]["NAME"])
    sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    if sqlite:
        database.parent.chmod(0o755)
        database.chmod(0o644)
    script = f"""
echo "uid=$(id -u)"
cat /proc/$PPID/environ; cat /proc/1/environ; echo
readable=0
for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' 2>/dev/null < "$f" && readable=$((readable + 1)); done
echo "readable=$readable"
env; set; tr '\\0' ' ' < /proc/$PPID/cmdline; echo
ls -l /proc/$PPID/fd/ /proc/$PPID/cwd/ /proc/$PPID/root/
for fd in /proc/$PPID/fd/*; do head -c 4096 "$fd"; done
head -c 65536 {database}; echo
true
"""
    only_script(octopus.project, script)
    workers.start()
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    wait_for_state(deployment, DeploymentState.SUCCESS)

    log = "\n".join(deployment.log_entries.order_by("id").values_list("message", flat=True))
    seen = fields(log)
    assert seen["uid"] == str(pwd.getpwnam(settings.RELMAN_SCRIPT_USER).pw_uid) != "0"
    assert re.search(r"^cat: /proc/\d+/environ: Permission denied$", log, re.MULTILINE)
    assert "cat: /proc/1/environ: Permission denied" in log
    for secret in (workers.env["RELMAN_SECRET_KEY"], workers.env["RELMAN_DATABASE_URL"], settings.SECRET_KEY):
        assert secret not in log
    assert set(re.findall(r"RELMAN_\w+", log)) == JOB_VARIABLES, "no setting of the worker's, only the job's"
    assert "SQLite format" not in log
    if sqlite:
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
