"""Real relman-agent processes against the live server, with real workers driving the
deployments: on SQLite with the filesystem broker by default, on PostgreSQL + Redis when
RELMAN_TEST_DATABASE_URL / RELMAN_TEST_BROKER_URL are set (CI runs both)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from lifecycles.models import Environment
from processes.models import Step
from releases.choices import DeploymentState, RunState, StepState
from releases.models import StepRun
from releases.services import deployment_cancel, deployment_create, release_create
from targets.models import Target
from targets.services import target_create, target_rotate_token

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LOST_AFTER_SECONDS = 3


@pytest.fixture
def agents(tmp_path, live_server, settings):
    """``agents.start(token)`` starts a relman-agent process against the live server (with
    no secret of the test's in its environment); all are stopped at the end."""
    # The live server listens for wake-ups where the workers send them (relman.wake).
    settings.VAR_DIR = tmp_path
    started: list[subprocess.Popen] = []
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}

    class Agents:
        url = live_server.url

        def start(self, token: str, *extra: str) -> subprocess.Popen:
            process = subprocess.Popen(
                [sys.executable, "-m", "relman.agent", "--url", self.url, "--token", token, *extra],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            started.append(process)
            return process

    yield Agents()
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def agent_workers(workers):
    workers.env["RELMAN_AGENT_LOST_AFTER_SECONDS"] = str(LOST_AFTER_SECONDS)
    workers.start()
    return workers


def _on_targets(project, script: str, roles=("app",)) -> None:
    project.steps.all().delete()
    Step.objects.create(
        project=project, name="Deploy", position=1, kind="script", script=script, target_roles=list(roles)
    )


def _target(name: str, environment: Environment, roles=("app",)) -> str:
    return target_create(name=name, environments=[environment], roles=list(roles), actor=None)[1]


def _messages(deployment) -> list[str]:
    return list(deployment.log_entries.order_by("id").values_list("message", flat=True))


def test_a_role_on_two_targets_runs_once_on_each_even_with_two_agents_racing(
    octopus, root, agent_workers, agents, wait_for_state
):
    environment = Environment.objects.get(slug="manual-test")
    token_a = _target("web-a", environment)
    token_b = _target("web-b", environment)
    _target("db-1", environment, roles=("db",))
    _on_targets(octopus.project, 'echo "deploying $RELMAN_RELEASE_VERSION on $RELMAN_TARGET"; echo oops >&2')
    # Two agents of web-a race for its one run; web-b has one.
    for token in (token_a, token_a, token_b):
        agents.start(token)
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=environment, actor=root)

    wait_for_state(deployment, DeploymentState.SUCCESS)
    runs = StepRun.objects.filter(step__deployment=deployment).order_by("target__name")
    assert [(r.target.name, r.state, r.exit_code) for r in runs] == [
        ("web-a", RunState.SUCCESS, 0),
        ("web-b", RunState.SUCCESS, 0),
    ]
    log = _messages(deployment)
    assert "[web-a] deploying 1.0.0 on web-a" in log
    assert "[web-b] deploying 1.0.0 on web-b" in log
    assert "[web-b] oops" in log
    assert sum(m.startswith("[web-a] Started by the agent") for m in log) == 1


def test_cancel_stops_the_agents_script_and_a_killed_agent_is_lost_once(
    octopus, root, agent_workers, agents, wait_for, wait_for_state, tmp_path
):
    environment = Environment.objects.get(slug="manual-test")
    token = _target("web-a", environment)
    pid_file = tmp_path / "script.pid"
    _on_targets(octopus.project, f"echo $$ > {pid_file}; sleep 60")
    agent = agents.start(token)

    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=environment, actor=root)
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), what="the script to start")
    script_pid = int(pid_file.read_text())
    deployment_cancel(deployment=deployment, actor=root)
    cancelled_at = time.monotonic()
    wait_for(lambda: not _alive(script_pid), timeout=10, what="the script to stop")
    assert time.monotonic() - cancelled_at < 5
    run = wait_for(
        lambda: StepRun.objects.filter(step__deployment=deployment, state=RunState.CANCELLED).first(),
        timeout=15,
        what="the run to be cancelled",
    )
    assert run.step.state == StepState.FAILED

    pid_file.unlink()
    release = release_create(project=octopus.project, version="1.0.1", actor=root)
    deployment = deployment_create(release=release, environment=environment, actor=root)
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), what="the script to start")
    os.killpg(agent.pid, signal.SIGKILL)
    wait_for_state(deployment, DeploymentState.FAILED, timeout=30)
    assert _messages(deployment).count("[web-a] Agent lost while running this step") == 1
    assert StepRun.objects.get(step__deployment=deployment).state == RunState.FAILED


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_wrong_or_rotated_token_is_refused_with_one_line(octopus, agents):
    environment = Environment.objects.get(slug="manual-test")
    target_token = _target("web-a", environment)
    target_rotate_token(target=Target.objects.get(name="web-a"), actor=None)
    for token in ("rmt_nothing_here", target_token):
        process = agents.start(token)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 2
        lines = stderr.decode().strip().splitlines()
        assert len(lines) == 1 and "refused the agent token" in lines[0], lines

    process = subprocess.run(
        [sys.executable, "-m", "relman.agent", "--url", "http://127.0.0.1:9/", "--token", target_token],
        capture_output=True,
        timeout=30,
    )
    assert process.returncode == 2
    assert process.stderr.decode().count("\n") == 1 and "cannot reach" in process.stderr.decode()
