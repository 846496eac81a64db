"""Script steps with target roles, through the engine and the agent endpoints (no agent
process: tests/releases/test_agent_integration.py runs real ones)."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from lifecycles.models import Environment
from processes.models import Step
from releases.choices import DeploymentState, RunState, StepState
from releases.engine import deployments_sweep
from releases.models import Interruption, StepRun
from releases.services import (
    deployment_cancel,
    deployment_create,
    interruption_submit,
    interruption_take,
    release_create,
)
from relman.wake import Listener, notify_on_commit
from targets.services import target_create
from variables.services import VariableSpec, project_variables_replace

CLAIM = "/api/v1/agent/claim/"


@pytest.fixture
def manual_test(octopus):
    return Environment.objects.get(slug="manual-test")


@pytest.fixture
def tokens(manual_test):
    return {
        name: target_create(name=name, environments=[manual_test], roles=roles, actor=None)[1]
        for name, roles in (("web-a", ["app"]), ("web-b", ["app", "web"]), ("db-1", ["db"]))
    }


@pytest.fixture
def agents(tokens, agent_client):
    """An agent's API client per target."""
    return {name: agent_client(token) for name, token in tokens.items()}


def _deploy(
    octopus,
    root,
    environment,
    engine_,
    roles=("app",),
    guided_failure=False,
    timeout=600,
    script="./deploy.sh",
):
    octopus.project.steps.all().delete()
    Step.objects.create(
        project=octopus.project,
        name="Deploy",
        position=1,
        kind="script",
        script=script,
        target_roles=list(roles),
        timeout_seconds=timeout,
    )
    release = release_create(project=octopus.project, version=f"1.0.{StepRun.objects.count()}", actor=root)
    with engine_():
        return deployment_create(
            release=release, environment=environment, actor=root, guided_failure=guided_failure
        )


def _claim(agent) -> dict | None:
    response = agent.post(CLAIM, {"wait": 0}, format="json")
    assert response.status_code in (200, 204), response.content
    return response.json() if response.status_code == 200 else None


def _finish(agent, job: dict, exit_code: int, **extra):
    return agent.post(
        f"/api/v1/agent/runs/{job['run']}/finish/",
        {"attempt": job["attempt"], "exit_code": exit_code, **extra},
        format="json",
    )


def _messages(deployment) -> list[str]:
    return list(deployment.log_entries.order_by("id").values_list("message", flat=True))


def test_no_matching_target_fails_the_step_naming_environment_and_roles(
    octopus, root, manual_test, agents, engine
):
    deployment = _deploy(octopus, root, manual_test, engine, roles=("cache", "queue"))
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.FAILED
    assert "No enabled target in Manual Test has the role cache or queue." in _messages(deployment)


def test_each_matching_target_gets_one_run_claimed_once(octopus, root, manual_test, agents, engine):
    deployment = _deploy(octopus, root, manual_test, engine)
    assert sorted(StepRun.objects.values_list("target__name", flat=True)) == ["web-a", "web-b"]
    job = _claim(agents["web-a"])
    assert job["script"] == "./deploy.sh" and job["variables"]["RELMAN_TARGET"] == "web-a"
    assert _claim(agents["web-a"]) is None  # a repeated claim gets nothing more
    assert _claim(agents["db-1"]) is None  # another target never sees it
    with engine():
        assert _finish(agents["web-a"], job, 0).status_code == 204
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.EXECUTING  # web-b has not run yet
    other = _claim(agents["web-b"])
    with engine():
        _finish(agents["web-b"], other, 0)
        assert _finish(agents["web-b"], other, 0).status_code == 204  # repeated: harmless
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.SUCCESS
    assert _messages(deployment).count("[web-b] Exited with code 0.") == 1


def test_each_run_gets_the_values_of_its_own_target_and_its_secrets_are_masked(
    octopus, root, manual_test, agents, engine
):
    project_variables_replace(
        project=octopus.project,
        variables=[
            VariableSpec("Pool", "default"),
            VariableSpec("Pool", "web-pool", roles=["web"]),
            VariableSpec("Token", "s3cret-of-web-a", sensitive=True, targets=["web-a"]),
            VariableSpec("Token", "s3cret-elsewhere", sensitive=True),
        ],
        library_sets=[],
        actor=root,
    )
    deployment = _deploy(
        octopus, root, manual_test, engine, script="deploy --pool #{Pool} on #{Relman.Target}"
    )
    jobs = {name: _claim(agents[name]) for name in ("web-a", "web-b")}
    assert jobs["web-a"]["script"] == "deploy --pool default on web-a"
    assert jobs["web-b"]["script"] == "deploy --pool web-pool on web-b"
    assert jobs["web-a"]["variables"]["RELMAN_VAR_TOKEN"] == "s3cret-of-web-a"
    assert jobs["web-b"]["variables"]["RELMAN_VAR_TOKEN"] == "s3cret-elsewhere"
    report = f"/api/v1/agent/runs/{jobs['web-a']['run']}/report/"
    agents["web-a"].post(report, {"attempt": 1, "lines": [{"text": "using s3cret-of-web-a"}]}, format="json")
    with engine():
        _finish(agents["web-a"], jobs["web-a"], 0, tail=[{"text": "done with s3cret-of-web-a"}])
    log = "\n".join(_messages(deployment))
    assert "[web-a] using ********" in log and "[web-a] done with ********" in log
    assert "s3cret" not in log


def test_a_reference_a_target_has_no_value_for_fails_the_step_before_any_run(
    octopus, root, manual_test, agents, engine
):
    project_variables_replace(
        project=octopus.project,
        variables=[VariableSpec("Port", "8080", targets=["web-a"])],
        library_sets=[],
        actor=root,
    )
    deployment = _deploy(octopus, root, manual_test, engine, script="serve --port #{Port}")
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.FAILED
    assert not StepRun.objects.filter(step__deployment=deployment).exists()
    assert any(
        "on web-b refers to #{Port}, which has no value in Manual Test" in m for m in _messages(deployment)
    )


def test_an_agent_cannot_report_on_a_run_it_does_not_hold(octopus, root, manual_test, agents, engine):
    _deploy(octopus, root, manual_test, engine)
    job = _claim(agents["web-a"])
    url = f"/api/v1/agent/runs/{job['run']}/report/"
    lines = {"attempt": job["attempt"], "lines": [{"text": "hello"}]}
    assert agents["web-b"].post(url, lines, format="json").status_code == 404
    assert agents["web-a"].post(url, {**lines, "attempt": 7}, format="json").status_code == 409
    assert agents["web-a"].post(url, {**lines, "lines": "x"}, format="json").status_code == 400
    assert not StepRun.objects.filter(pk=job["run"], output_lines__gt=0).exists()


@override_settings(RELMAN_AGENT_OUTPUT_MAX_LINES=1_005, RELMAN_AGENT_LINE_MAX_CHARS=100)
def test_long_lines_are_cut_with_a_marker_and_a_long_output_keeps_its_head_and_tail(
    octopus, root, manual_test, agents, engine
):
    deployment = _deploy(octopus, root, manual_test, engine, roles=("db",))
    job = _claim(agents["db-1"])
    client = agents["db-1"]
    url = f"/api/v1/agent/runs/{job['run']}/report/"
    answer = client.post(url, {"attempt": 1, "lines": [{"text": "x" * 250}]}, format="json")
    assert answer.json() == {"stop": False}
    client.post(url, {"attempt": 1, "lines": [{"text": f"line {n}"} for n in range(10)]}, format="json")
    tail = [{"text": f"tail {n}"} for n in range(3)]
    with engine():
        _finish(agents["db-1"], job, 0, tail=tail, omitted=500)
    log = _messages(deployment)
    assert f"[db-1] {'x' * 100} … [line truncated: 250 characters, 100 kept]" in log
    assert "[db-1] line 3" in log and "[db-1] line 4" not in log  # the head: 1,005 − 1,000 lines
    assert "[db-1] … 506 lines of output not kept: a run keeps its first 5 and last 1,000 lines …" in log
    marker = log.index(
        "[db-1] … 506 lines of output not kept: a run keeps its first 5 and last 1,000 lines …"
    )
    assert (
        log.index("[db-1] line 3")
        < marker
        < log.index("[db-1] tail 0")
        < log.index("[db-1] Exited with code 0.")
    )


def test_a_run_nobody_claims_within_the_timeout_fails_naming_the_offline_target(
    octopus, root, manual_test, agents, engine
):
    deployment = _deploy(octopus, root, manual_test, engine, roles=("db",), timeout=30)
    StepRun.objects.update(queued_at=timezone.now() - timedelta(seconds=31))
    with engine():
        assert deployments_sweep()["target_offline"] == 1
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.FAILED
    assert "[db-1] db-1 is offline: no agent claimed this step within 30 seconds." in _messages(deployment)


def test_an_agent_silent_past_the_limit_is_lost_once_and_its_late_report_is_refused(
    octopus, root, manual_test, agents, engine
):
    deployment = _deploy(octopus, root, manual_test, engine, roles=("db",))
    job = _claim(agents["db-1"])
    StepRun.objects.update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with engine():
        assert deployments_sweep()["agent_lost"] == 1
        assert deployments_sweep()["agent_lost"] == 0
    assert _messages(deployment).count("[db-1] Agent lost while running this step") == 1
    assert _finish(agents["db-1"], job, 0).status_code == 409
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.FAILED


def test_guided_failure_retries_only_the_failed_runs(octopus, root, manual_test, agents, engine):
    deployment = _deploy(octopus, root, manual_test, engine, guided_failure=True)
    jobs = {name: _claim(agents[name]) for name in ("web-a", "web-b")}
    with engine():
        _finish(agents["web-a"], jobs["web-a"], 0)
        _finish(agents["web-b"], jobs["web-b"], 3)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.WAITING
    assert "The script failed on 1 of 2 targets: web-b." in _messages(deployment)
    interruption = Interruption.objects.get(deployment=deployment, pending=True)
    interruption_take(interruption=interruption, actor=root)
    with engine():
        interruption_submit(interruption=interruption, actor=root, guidance="retry")
    runs = {r.target.name: r for r in StepRun.objects.select_related("target")}
    assert (runs["web-a"].state, runs["web-a"].attempt) == (RunState.SUCCESS, 1)
    assert (runs["web-b"].state, runs["web-b"].attempt) == (RunState.PENDING, 2)
    assert _claim(agents["web-a"]) is None
    retry = _claim(agents["web-b"])
    assert _finish(agents["web-b"], jobs["web-b"], 0).status_code == 409  # the first attempt's report
    with engine():
        _finish(agents["web-b"], retry, 0)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.SUCCESS


def test_cancel_stops_pending_runs_and_tells_a_running_agent_to_stop(
    octopus, root, manual_test, agents, engine
):
    deployment = _deploy(octopus, root, manual_test, engine)
    job = _claim(agents["web-a"])
    with engine():
        deployment_cancel(deployment=deployment, actor=root)
    assert StepRun.objects.get(target__name="web-b").state == RunState.CANCELLED
    report = agents["web-a"].post(
        f"/api/v1/agent/runs/{job['run']}/report/", {"attempt": 1, "lines": []}, format="json"
    )
    assert report.json() == {"stop": True}
    with engine():
        _finish(agents["web-a"], job, -15, cancelled=True)
    step = StepRun.objects.get(target__name="web-a").step
    assert step.state == StepState.FAILED
    assert "== Cancelled: Step 1: Deploy ==" in _messages(deployment)


@pytest.mark.django_db(transaction=True)
def test_a_waiting_listener_wakes_within_milliseconds_of_a_commit():
    woken: list[float] = []
    ready = threading.Event()

    def listen():
        with Listener("relman_wake_test") as listener:
            ready.set()
            if listener.wait(10):
                woken.append(time.monotonic())
        connection.close()

    thread = threading.Thread(target=listen)
    thread.start()
    ready.wait(5)
    sent = time.monotonic()
    with transaction.atomic():
        notify_on_commit("relman_wake_test")
    thread.join(10)
    assert woken and woken[0] - sent < 0.5
