import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import kombu.pools
import pytest
from django.conf import settings
from django.db import connection

from releases.models import Deployment
from relman.celery import app

ROOT = Path(__file__).resolve().parents[2]
# Worker processes started by these tests sweep often and give up on a silent script
# quickly, so that recovery is observable in seconds.
STUCK_AFTER_SECONDS = 3


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Workers:
    """Starts real `celery -A relman worker` processes (with beat, so the sweep runs)
    against the test database and a clean broker, and makes this process publish to that
    broker instead of running tasks in-process."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "relman.settings",
            "RELMAN_SECRET_KEY": "integration-tests-secret-key-0123456789-abcdefghijkl",
            "RELMAN_HTTPS": "0",
            "RELMAN_DATABASE_URL": database_url(),
            "RELMAN_VAR_DIR": str(tmp_path),
            "RELMAN_SWEEP_INTERVAL_SECONDS": "1",
            "RELMAN_STUCK_AFTER_SECONDS": str(STUCK_AFTER_SECONDS),
            "RELMAN_SCRIPT_HEARTBEAT_SECONDS": "1",
        }
        self.broker_url = settings.TEST_BROKER_URL
        if self.broker_url:
            self.env["RELMAN_BROKER_URL"] = self.broker_url
            options = {"visibility_timeout": 3600}
            import redis

            redis.Redis.from_url(self.broker_url).flushdb()
        else:
            self.env.pop("RELMAN_BROKER_URL", None)
            broker = tmp_path / "broker"
            for folder in ("out", "processed", "control"):
                (broker / folder).mkdir(parents=True, exist_ok=True)
            self.broker_url = "filesystem://"
            options = {
                "data_folder_in": str(broker / "out"),
                "data_folder_out": str(broker / "out"),
                "processed_folder": str(broker / "processed"),
                "control_folder": str(broker / "control"),
                "store_processed": False,
                "polling_interval": 0.1,
            }
        self.saved = (app.conf.task_always_eager, app.conf.broker_url, app.conf.broker_transport_options)
        app.conf.update(task_always_eager=False, broker_url=self.broker_url, broker_transport_options=options)
        _reset_connections()

    def start(self) -> subprocess.Popen:
        index = len(self.processes)
        log = open(self.tmp_path / f"worker-{index}.log", "wb")  # noqa: SIM115 - lives as long as the worker
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "relman",
                "worker",
                "--queues",
                "steps,system",
                "--beat",
                "--schedule",
                str(self.tmp_path / f"beat-{index}"),
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--hostname",
                f"test{index}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a test can kill the worker and its pool at once
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the worker and its pool processes, as a crashed machine would."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        # The test is over: nothing a worker still does matters, and a warm shutdown of a
        # worker with beat and a pool costs seconds per test.
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)
        app.conf.update(
            task_always_eager=self.saved[0], broker_url=self.saved[1], broker_transport_options=self.saved[2]
        )
        _reset_connections()

    def restart_dead(self) -> int:
        """Starts a new worker for each one that died, as systemd or Docker's restart
        policy would; returns how many."""
        dead = [p for p in self.processes if p.poll() is not None and not getattr(p, "replaced", False)]
        for process in dead:
            process.replaced = True
            self.start()
        return len(dead)


def _reset_connections() -> None:
    """Drops this process's pooled broker connections, so the next publish connects with
    the broker settings now in force. (Celery does the same in a child after fork.)"""
    app.pool.force_close_all()
    kombu.pools.reset()
    app._after_fork()


@pytest.fixture
def workers(tmp_path):
    pool = Workers(tmp_path)
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def worker(workers):
    return workers.start()


def _wait_for(check, *, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _wait_for_state(
    deployment: Deployment, state: str | set[str], timeout: float = 60, supervisor: Workers | None = None
) -> Deployment:
    states = {state} if isinstance(state, str) else state

    def reached():
        if supervisor is not None:
            supervisor.restart_dead()
        deployment.refresh_from_db()
        return deployment.state in states

    _wait_for(reached, timeout=timeout, what=f"deployment {deployment.pk} to be {state}")
    return deployment


@pytest.fixture
def wait_for():
    """``wait_for(check, timeout=…, what=…)``: polls ``check`` until it returns something true."""
    return _wait_for


@pytest.fixture
def wait_for_state():
    """``wait_for_state(deployment, state)``: polls the database until the deployment is in it."""
    return _wait_for_state
