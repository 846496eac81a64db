"""Faults a self-hosted release tool meets: a worker killed mid-script, a message lost
after commit, a message delivered twice, the broker restarted. In every case no deployment
stays stuck beyond the sweep threshold, no script runs twice, and no log line is lost.

Real worker processes (with beat, so the sweep runs every second) against the test
database and broker: SQLite + filesystem by default, PostgreSQL + Redis in CI."""

import contextlib
import shutil
import subprocess
import time
from unittest import mock

import pytest
from django.conf import settings
from kombu.exceptions import OperationalError

from processes.choices import RunCondition, StepKind
from processes.models import Step
from releases.choices import DeploymentState, StepState
from releases.engine import WORKER_LOST
from releases.models import Interruption
from releases.services import deployment_create, interruption_submit, release_create
from releases.tasks import deployment_advance_task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def scripted(project, *steps):
    project.steps.all().delete()
    for position, (name, script, condition) in enumerate(steps, start=1):
        Step.objects.create(
            project=project,
            name=name,
            position=position,
            kind=StepKind.SCRIPT,
            script=script,
            run_condition=condition,
        )


def messages(deployment) -> list[str]:
    return list(deployment.log_entries.order_by("id").values_list("message", flat=True))


def test_worker_killed_mid_script_fails_the_step_and_never_reruns_it(
    octopus, root, workers, script_dir, wait_for, wait_for_state
):
    marker = script_dir / "runs"
    scripted(
        octopus.project,
        (
            "Long migration",
            f"echo started; echo run >> {marker}; sleep 30; echo finished",
            RunCondition.SUCCESS,
        ),
        ("Report failure", "echo reporting", RunCondition.FAILURE),
    )
    first = workers.start()
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    wait_for(lambda: "started" in messages(deployment), what="the script to start")

    workers.kill(first)
    workers.start()
    wait_for_state(deployment, DeploymentState.FAILED, timeout=30)

    assert marker.read_text() == "run\n"
    step = deployment.steps.get(position=1)
    assert step.state == StepState.FAILED
    log = messages(deployment)
    assert WORKER_LOST in log
    assert "finished" not in log
    assert "reporting" in log


def test_message_lost_after_commit_is_recovered_by_the_sweep(octopus, root, worker, wait_for_state):
    scripted(octopus.project, ("Deploy", "echo deployed", RunCondition.SUCCESS))
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    with mock.patch.object(deployment_advance_task, "delay", side_effect=OperationalError("broker down")):
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.QUEUED
    started = time.monotonic()
    wait_for_state(deployment, DeploymentState.SUCCESS, timeout=30)
    assert time.monotonic() - started < 30
    assert messages(deployment).count("deployed") == 1


def test_duplicate_message_changes_nothing(octopus, root, worker, script_dir, wait_for_state):
    marker = script_dir / "runs"
    scripted(octopus.project, ("Deploy", f"echo run >> {marker}; echo deployed", RunCondition.SUCCESS))
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    for _ in range(3):
        deployment_advance_task.delay(deployment.pk)
    wait_for_state(deployment, DeploymentState.SUCCESS)
    time.sleep(1)  # let the duplicates be delivered and ignored
    assert marker.read_text() == "run\n"
    assert messages(deployment).count("deployed") == 1
    assert messages(deployment).count("== Success: Step 1: Deploy ==") == 1


@pytest.mark.skipif(
    not settings.TEST_BROKER_URL.startswith("redis://") or shutil.which("redis-server") is None,
    reason="restarts the Redis broker: runs with RELMAN_TEST_BROKER_URL=redis://… on this machine's Redis",
)
def test_redis_restart_while_deployments_wait_and_run(octopus, goodhealth, root, workers, wait_for_state):
    """A worker whose broker connection drops while it runs a task may exit (Celery 5.7
    fails to acknowledge the message on the closed connection); like any supervisor,
    the test starts a new one. The script then either finished or is failed as "worker
    lost" by the sweep: never run twice, never stuck."""
    workers.start()
    scripted(octopus.project, ("Slow deploy", "sleep 3; echo deployed", RunCondition.SUCCESS))
    running = deployment_create(
        release=release_create(project=octopus.project, version="1.0.0", actor=root),
        environment=octopus.environments[0],
        actor=root,
    )
    waiting = deployment_create(
        release=release_create(project=goodhealth.project, version="1.0.0", actor=root),
        environment=goodhealth.environments[0],
        actor=root,
    )
    wait_for_state(waiting, DeploymentState.WAITING)

    restart_redis(settings.TEST_BROKER_URL)

    interruption = Interruption.objects.get(deployment=waiting, pending=True)
    interruption_submit(interruption=interruption, actor=goodhealth.users["admin-ops"], result="proceed")
    wait_for_state(waiting, DeploymentState.SUCCESS, timeout=45, supervisor=workers)
    finished = {DeploymentState.SUCCESS, DeploymentState.FAILED}
    wait_for_state(running, finished, timeout=45, supervisor=workers)
    log = messages(running)
    assert log.count("== Running: Step 1: Slow deploy ==") == 1
    if running.state == DeploymentState.FAILED:
        assert WORKER_LOST in log and "deployed" not in log
    else:
        assert log.count("deployed") == 1


def restart_redis(url: str) -> None:
    """Shuts the Redis server down (losing everything it held, as this machine's Redis
    keeps nothing on disk) and starts it again with the same port, address and folder."""
    import redis

    client = redis.Redis.from_url(url)
    config = client.config_get("*")
    args = [
        "redis-server",
        "--daemonize",
        "yes",
        "--port",
        config["port"],
        "--bind",
        *config["bind"].split(),
        "--dir",
        config["dir"],
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    if config.get("logfile"):
        args += ["--logfile", config["logfile"]]
    with contextlib.suppress(redis.ConnectionError):  # the server closes the connection as it stops
        client.shutdown(nosave=True)
    time.sleep(0.5)
    subprocess.run(args, check=True)
    for _ in range(50):
        try:
            if redis.Redis.from_url(url).ping():
                return
        except redis.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("Redis did not come back")
