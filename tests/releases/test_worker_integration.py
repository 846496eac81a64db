"""A real Celery worker process drives deployments: on SQLite with the filesystem broker
by default, on PostgreSQL + Redis when RELMAN_TEST_DATABASE_URL / RELMAN_TEST_BROKER_URL
are set (CI runs both)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from releases.choices import DeploymentState
from releases.models import Deployment, Interruption
from releases.services import deployment_create, interruption_submit, interruption_take, release_create
from relman.celery import app

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path):
    """Starts `celery -A relman worker` against the test database and a clean broker, and
    makes this process publish to that broker instead of running tasks in-process."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "relman.settings",
        "RELMAN_SECRET_KEY": "integration-tests-secret-key-0123456789-abcdefghijkl",
        "RELMAN_HTTPS": "0",
        "RELMAN_DATABASE_URL": database_url(),
        "RELMAN_VAR_DIR": str(tmp_path),
    }
    broker_url = settings.TEST_BROKER_URL
    if broker_url:
        env["RELMAN_BROKER_URL"] = broker_url
        options = {"visibility_timeout": 3600}
        import redis

        redis.Redis.from_url(broker_url).flushdb()
    else:
        env.pop("RELMAN_BROKER_URL", None)
        folder = tmp_path / "broker" / "out"
        folder.mkdir(parents=True)
        (tmp_path / "broker" / "processed").mkdir()
        broker_url = "filesystem://"
        options = {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(tmp_path / "broker" / "processed"),
            "control_folder": str(tmp_path / "broker" / "control"),
            "store_processed": False,
            "polling_interval": 0.1,
        }
    saved = (app.conf.task_always_eager, app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.update(task_always_eager=False, broker_url=broker_url, broker_transport_options=options)
    log = open(tmp_path / "worker.log", "wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "relman",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        app.conf.update(task_always_eager=saved[0], broker_url=saved[1], broker_transport_options=saved[2])
        app.pool.force_close_all()


def wait_for(deployment: Deployment, state: str, worker, timeout: float = 60) -> Deployment:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployment.refresh_from_db()
        if deployment.state == state:
            return deployment
        assert worker.poll() is None, "the worker process died"
        time.sleep(0.1)
    raise AssertionError(f"deployment stayed {deployment.state}, expected {state}")


def test_worker_drives_deployment_through_script_and_two_manual_steps(goodhealth, root, worker):
    """Integration: Build check (script) → Migrate Data (manual) → Deploy (script); then
    Testing starts by itself. A second manual step is added to make it two."""
    from processes.models import Step

    integration, testing, _ = goodhealth.environments
    admin_ops = goodhealth.users["admin-ops"]
    review = Step.objects.create(
        project=goodhealth.project, name="Review the migration", position=4, kind="manual"
    )
    review.responsible_teams.add(admin_ops.teams.get())
    review.environments.add(integration)
    release = release_create(project=goodhealth.project, version="5.0.0", actor=root)
    deployment = deployment_create(release=release, environment=integration, actor=root)

    for title in ("Migrate Data", "Review the migration"):
        wait_for(deployment, DeploymentState.WAITING, worker)
        interruption = Interruption.objects.get(deployment=deployment, pending=True)
        assert interruption.title == title
        interruption_take(interruption=interruption, actor=admin_ops)
        interruption_submit(
            interruption=interruption, actor=admin_ops, result="proceed", notes=f"{title} done"
        )

    wait_for(deployment, DeploymentState.SUCCESS, worker)
    log = list(deployment.log_entries.values_list("message", flat=True))
    assert "Checking build of GoodHealth 5.0.0 for Integration" in log
    assert "Deploying GoodHealth 5.0.0 to Integration" in log
    assert "Notes: Migrate Data done" in log
    automatic = Deployment.objects.get(release=release, environment=testing)
    wait_for(automatic, DeploymentState.SUCCESS, worker)
    assert automatic.created_by is None
