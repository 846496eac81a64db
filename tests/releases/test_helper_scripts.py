"""Helper scripts (rung 2 of the automation ladder): the assignee of a waiting manual step
runs its script on the built-in runner or on the step's targets, through the engine and the
API; the output is offered as notes and the person still decides. Real scripts run on the
built-in runner here; tests/releases/test_agent_integration.py and the worker tests run
real agent and worker processes."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from lifecycles.models import Environment
from processes.models import Step
from releases import engine as engine_module
from releases.choices import BUILTIN_RUNNER, DeploymentState, RunState, StepState
from releases.models import Interruption, StepRun
from releases.services import (
    deployment_cancel,
    deployment_create,
    interruption_run_helper,
    interruption_stop_helper,
    interruption_submit,
    interruption_take,
    release_create,
)
from relman.exceptions import Conflict, InvalidInput, PermissionRefused
from targets.services import target_create
from teams.models import Team
from teams.services import api_key_create
from variables.services import VariableSpec, project_variables_replace

CLAIM = "/api/v1/agent/claim/"


@pytest.fixture
def manual_test(octopus):
    return Environment.objects.get(slug="manual-test")


@pytest.fixture
def api():
    def client_for(user):
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user, purpose='tests', actor=None)[1]}"
        )
        return client

    return client_for


def _waiting_at_helper(octopus, root, environment, engine, *, script, roles=(), timeout=600, teams=None):
    """A deployment waiting at one manual step "Check the site" with this helper script."""
    octopus.project.steps.all().delete()
    step = Step.objects.create(
        project=octopus.project,
        name="Check the site",
        position=1,
        kind="manual",
        instructions="Check that the site loads.",
        script=script,
        target_roles=list(roles),
        timeout_seconds=timeout,
    )
    step.responsible_teams.set(teams or [Team.objects.get(name="Test Team")])
    release = release_create(project=octopus.project, version=f"1.0.{StepRun.objects.count()}", actor=root)
    with engine():
        deployment = deployment_create(release=release, environment=environment, actor=root)
    return Interruption.objects.get(deployment=deployment, pending=True)


def _messages(interruption) -> list[str]:
    return list(interruption.deployment.log_entries.order_by("id").values_list("message", flat=True))


def test_the_assignee_runs_the_helper_script_and_its_output_is_offered_as_notes(
    octopus, root, tina, manual_test, engine
):
    interruption = _waiting_at_helper(
        octopus,
        root,
        manual_test,
        engine,
        script='echo "checking #{Relman.Environment}"\necho "site answered 200" >&2',
    )
    interruption_take(interruption=interruption, actor=tina)
    with engine():
        runs = interruption_run_helper(interruption=interruption, actor=tina)
    assert [run.where for run in runs] == [BUILTIN_RUNNER]

    run = StepRun.objects.get()
    assert (run.state, run.exit_code, run.target, run.requested_by) == (RunState.SUCCESS, 0, None, tina)
    interruption.refresh_from_db()
    # The helper decided nothing: the step still waits for Tina.
    assert interruption.pending and interruption.step.state == StepState.WAITING
    interruption.deployment.refresh_from_db()
    assert interruption.deployment.state == DeploymentState.WAITING
    assert "checking Manual Test" in interruption.helper_output
    assert "site answered 200" in interruption.helper_output
    messages = _messages(interruption)
    assert f"== Helper script: run by Tina on {BUILTIN_RUNNER} ==" in messages
    assert "== Helper script succeeded ==" in messages

    with engine():
        interruption_submit(
            interruption=interruption, actor=tina, result="proceed", notes=interruption.helper_output
        )
    interruption.refresh_from_db()
    assert interruption.result == "proceed" and "site answered 200" in interruption.notes


def test_a_failing_helper_script_is_reported_and_the_person_still_decides(
    octopus, root, tina, manual_test, engine
):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="echo 'no answer'; exit 3")
    interruption_take(interruption=interruption, actor=tina)
    with engine():
        interruption_run_helper(interruption=interruption, actor=tina)
    run = StepRun.objects.get()
    assert (run.state, run.exit_code) == (RunState.FAILED, 3)
    assert f"== Helper script failed on {BUILTIN_RUNNER} ==" in _messages(interruption)
    interruption.refresh_from_db()
    assert interruption.pending and "Exited with code 3." in interruption.helper_output

    # Run again: the same run, a new attempt, and a fresh output.
    Step.objects.update(script="echo second")
    with engine():
        interruption_run_helper(interruption=interruption, actor=tina)
    run.refresh_from_db()
    interruption.refresh_from_db()
    # The release kept its snapshot: the script that runs is still the one released.
    assert (run.state, run.attempt) == (RunState.FAILED, 2)
    assert interruption.helper_output.count("no answer") == 1


def test_only_the_assignee_may_run_it(octopus, root, tina, manual_test, engine, sarah):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="echo ok")
    with pytest.raises(PermissionRefused, match="Assign Check the site to yourself first"):
        interruption_run_helper(interruption=interruption, actor=tina)
    interruption_take(interruption=interruption, actor=tina)
    with pytest.raises(PermissionRefused, match="assigned to Tina; only they may run"):
        interruption_run_helper(interruption=interruption, actor=sarah)
    with pytest.raises(PermissionRefused):
        interruption_run_helper(interruption=interruption, actor=root)
    assert not StepRun.objects.exists()


def test_refused_while_it_runs_and_for_a_step_without_one(octopus, root, tina, manual_test, engine):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="echo ok")
    interruption_take(interruption=interruption, actor=tina)
    interruption_run_helper(interruption=interruption, actor=tina)  # not committed: stays pending
    with pytest.raises(Conflict, match="already running on Relman's built-in runner") as refusal:
        interruption_run_helper(interruption=interruption, actor=tina)
    assert refusal.value.code == "helper_running"

    plain = _waiting_at_helper(octopus, root, manual_test, engine, script="")
    interruption_take(interruption=plain, actor=tina)
    with pytest.raises(Conflict, match="has no helper script") as refusal:
        interruption_run_helper(interruption=plain, actor=tina)
    assert refusal.value.code == "no_helper_script"


def test_a_variable_without_a_value_is_refused_naming_it(octopus, root, tina, manual_test, engine):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="echo #{SiteUrl}")
    interruption_take(interruption=interruption, actor=tina)
    with pytest.raises(InvalidInput, match=r"refers to #\{SiteUrl\}, which has no value in Manual Test"):
        interruption_run_helper(interruption=interruption, actor=tina)
    assert not StepRun.objects.exists()


def test_sensitive_values_reach_the_script_but_never_the_log_or_the_notes(
    octopus, root, tina, manual_test, engine
):
    project_variables_replace(
        project=octopus.project,
        variables=[VariableSpec(name="DbPassword", value="s3cret-Pa55", sensitive=True)],
        library_sets=[],
        actor=root,
    )
    interruption = _waiting_at_helper(
        octopus,
        root,
        manual_test,
        engine,
        script='echo "password is #{DbPassword}"; echo "env has $RELMAN_VAR_DBPASSWORD"',
    )
    interruption_take(interruption=interruption, actor=tina)
    with engine():
        interruption_run_helper(interruption=interruption, actor=tina)
    interruption.refresh_from_db()
    assert "password is ********" in interruption.helper_output
    assert "env has ********" in interruption.helper_output
    assert not any("s3cret-Pa55" in message for message in _messages(interruption))
    assert "s3cret-Pa55" not in interruption.helper_output


@pytest.fixture
def web_targets(manual_test, agent_client):
    """Two targets with the role web, an agent client each, and one with another role."""
    tokens = {
        name: target_create(name=name, environments=[manual_test], roles=roles, actor=None)[1]
        for name, roles in (("web-a", ["web"]), ("web-b", ["web"]), ("db-1", ["db"]))
    }
    return {name: agent_client(token) for name, token in tokens.items()}


def _claim(agent):
    response = agent.post(CLAIM, {"wait": 0}, format="json")
    assert response.status_code in (200, 204), response.content
    return response.json() if response.status_code == 200 else None


def test_on_targets_each_agent_runs_it_and_the_output_names_the_target(
    octopus, root, tina, manual_test, engine, web_targets
):
    interruption = _waiting_at_helper(
        octopus, root, manual_test, engine, script="curl -fsS http://localhost/", roles=["web"]
    )
    interruption_take(interruption=interruption, actor=tina)
    with engine():
        runs = interruption_run_helper(interruption=interruption, actor=tina)
    assert sorted(run.where for run in runs) == ["web-a", "web-b"]
    assert _claim(web_targets["db-1"]) is None
    job = _claim(web_targets["web-a"])
    assert job["script"] == "curl -fsS http://localhost/" and job["variables"]["RELMAN_TARGET"] == "web-a"
    report = web_targets["web-a"].post(
        f"/api/v1/agent/runs/{job['run']}/report/",
        {"attempt": job["attempt"], "lines": [{"text": "HTTP 200 OK"}]},
        format="json",
    )
    assert report.json() == {"stop": False}
    with engine():
        finish = web_targets["web-a"].post(
            f"/api/v1/agent/runs/{job['run']}/finish/",
            {"attempt": job["attempt"], "exit_code": 0},
            format="json",
        )
    assert finish.status_code == 204
    interruption.refresh_from_db()
    assert interruption.helper_output == ""  # web-b has not finished yet
    other = _claim(web_targets["web-b"])
    with engine():
        web_targets["web-b"].post(
            f"/api/v1/agent/runs/{other['run']}/finish/",
            {"attempt": other["attempt"], "exit_code": 7},
            format="json",
        )
    interruption.refresh_from_db()
    assert "[web-a] HTTP 200 OK" in interruption.helper_output
    assert "[web-b] Exited with code 7." in interruption.helper_output
    assert "== Helper script failed on web-b ==" in _messages(interruption)
    assert interruption.pending


def test_no_matching_target_is_refused_naming_the_role(octopus, root, tina, manual_test, engine):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="true", roles=["cache"])
    interruption_take(interruption=interruption, actor=tina)
    with pytest.raises(Conflict, match="No enabled target in Manual Test has the role cache"):
        interruption_run_helper(interruption=interruption, actor=tina)


def test_answering_the_step_stops_its_helper_script(octopus, root, tina, manual_test, engine, web_targets):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="sleep 600", roles=["web"])
    interruption_take(interruption=interruption, actor=tina)
    with engine():
        interruption_run_helper(interruption=interruption, actor=tina)
    job = _claim(web_targets["web-a"])
    with engine():
        interruption_submit(interruption=interruption, actor=tina, result="proceed", notes="checked by hand")
    # Not yet claimed: cancelled at once. Running: the agent hears "no longer wanted".
    assert StepRun.objects.get(target__name="web-b").state == RunState.CANCELLED
    assert _claim(web_targets["web-b"]) is None
    report = web_targets["web-a"].post(
        f"/api/v1/agent/runs/{job['run']}/report/", {"attempt": job["attempt"], "lines": []}, format="json"
    )
    assert report.json() == {"stop": True}
    with engine():
        web_targets["web-a"].post(
            f"/api/v1/agent/runs/{job['run']}/finish/",
            {"attempt": job["attempt"], "exit_code": -15, "cancelled": True},
            format="json",
        )
    assert StepRun.objects.get(target__name="web-a").state == RunState.CANCELLED
    interruption.refresh_from_db()
    assert interruption.notes == "checked by hand" and interruption.helper_output == ""


def test_the_person_stops_a_helper_script_and_may_run_it_again(
    octopus, root, tina, manual_test, engine, web_targets
):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="sleep 600", roles=["web"])
    interruption_take(interruption=interruption, actor=tina)
    with pytest.raises(Conflict, match="is not running") as refusal:
        interruption_stop_helper(interruption=interruption, actor=tina)
    assert refusal.value.code == "helper_not_running"
    with engine():
        interruption_run_helper(interruption=interruption, actor=tina)
    job = _claim(web_targets["web-a"])
    with engine():
        interruption_stop_helper(interruption=interruption, actor=tina)
    assert StepRun.objects.get(target__name="web-b").state == RunState.CANCELLED
    report = web_targets["web-a"].post(
        f"/api/v1/agent/runs/{job['run']}/report/", {"attempt": job["attempt"], "lines": []}, format="json"
    )
    assert report.json() == {"stop": True}
    interruption.refresh_from_db()
    assert interruption.helper_output == ""  # web-a is still stopping
    with engine():
        web_targets["web-a"].post(
            f"/api/v1/agent/runs/{job['run']}/finish/",
            {"attempt": job["attempt"], "exit_code": -15, "cancelled": True},
            format="json",
        )
    interruption.refresh_from_db()
    assert "Helper script stopped by Tina." in interruption.helper_output
    assert "[web-a] Stopped: it is no longer wanted." in interruption.helper_output
    assert "== Helper script stopped ==" in _messages(interruption)
    assert interruption.pending
    with engine():
        interruption_run_helper(interruption=interruption, actor=tina)
    assert _claim(web_targets["web-a"])["attempt"] == 2


def test_cancelling_the_deployment_stops_its_helper_script(octopus, root, tina, manual_test, engine):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="sleep 600")
    interruption_take(interruption=interruption, actor=tina)
    interruption_run_helper(interruption=interruption, actor=tina)  # the worker has not started it
    with engine():
        deployment_cancel(deployment=interruption.deployment, actor=root)
    run = StepRun.objects.get()
    assert run.state == RunState.CANCELLED
    # The message arriving late runs nothing.
    assert engine_module.helper_execute(run.pk, run.attempt) is False


def test_the_sweep_fails_a_helper_script_whose_worker_was_lost(octopus, root, tina, manual_test, engine):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="sleep 600")
    interruption_take(interruption=interruption, actor=tina)
    interruption_run_helper(interruption=interruption, actor=tina)
    long_ago = timezone.now() - timedelta(hours=1)
    StepRun.objects.update(state=RunState.RUNNING, started_at=long_ago, heartbeat_at=long_ago)
    with engine():
        assert engine_module.deployments_sweep()["agent_lost"] == 1
    run = StepRun.objects.get()
    assert run.state == RunState.FAILED
    interruption.refresh_from_db()
    assert engine_module.WORKER_LOST in interruption.helper_output
    assert interruption.pending  # the person still decides
    # And it may be run again.
    interruption_run_helper(interruption=interruption, actor=tina)
    assert StepRun.objects.get().state == RunState.PENDING


def test_the_sweep_fails_a_helper_script_no_worker_started(octopus, root, tina, manual_test, engine):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="true", timeout=5)
    interruption_take(interruption=interruption, actor=tina)
    interruption_run_helper(interruption=interruption, actor=tina)
    StepRun.objects.update(queued_at=timezone.now() - timedelta(seconds=6))
    with engine():
        assert engine_module.deployments_sweep()["target_offline"] == 1
    interruption.refresh_from_db()
    assert "No worker started the helper script within 5 seconds; run it again." in interruption.helper_output


@override_settings(RELMAN_BUILTIN_RUNNER=False)
def test_with_the_built_in_runner_off_the_run_fails_saying_so(octopus, root, tina, manual_test, engine):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="echo ok")
    interruption_take(interruption=interruption, actor=tina)
    with engine():
        interruption_run_helper(interruption=interruption, actor=tina)
    assert StepRun.objects.get().state == RunState.FAILED
    interruption.refresh_from_db()
    assert "RELMAN_BUILTIN_RUNNER" in interruption.helper_output


def test_a_guided_failure_has_no_helper_script_to_run(octopus, root, tina, manual_test, engine):
    octopus.project.steps.all().delete()
    Step.objects.create(project=octopus.project, name="Deploy", position=1, kind="script", script="exit 1")
    release = release_create(project=octopus.project, version="9.9.9", actor=root)
    with engine():
        deployment = deployment_create(
            release=release, environment=manual_test, actor=root, guided_failure=True
        )
    interruption = Interruption.objects.get(deployment=deployment, pending=True)
    with pytest.raises(Conflict, match="guided failure: retry the step") as refusal:
        interruption_run_helper(interruption=interruption, actor=root)
    assert refusal.value.code == "not_a_manual_step"


# --- the API and the page -----------------------------------------------------------------


def test_api_runs_it_with_202_and_shows_runs_and_output(octopus, root, tina, manual_test, engine, api):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="echo 'loads fine'")
    client = api(tina)
    url = f"/api/v1/interruptions/{interruption.pk}/run-helper-script/"
    refused = client.post(url, format="json")
    assert (
        refused.status_code == 403 and "Assign Check the site to yourself first" in refused.json()["detail"]
    )
    client.post(f"/api/v1/interruptions/{interruption.pk}/take/", {}, format="json")
    with engine():
        response = client.post(url, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["has_helper_script"] is True
    shown = client.get(f"/api/v1/interruptions/{interruption.pk}/").json()
    assert shown["helper_runs"] == [
        {
            "target": None,
            "state": "success",
            "exit_code": 0,
            "started_at": shown["helper_runs"][0]["started_at"],
            "finished_at": shown["helper_runs"][0]["finished_at"],
        }
    ]
    assert "loads fine" in shown["helper_output"] and shown["pending"] is True


def test_api_refuses_a_second_run_while_one_runs_with_409(octopus, root, tina, manual_test, engine, api):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="echo ok")
    interruption_take(interruption=interruption, actor=tina)
    client = api(tina)
    url = f"/api/v1/interruptions/{interruption.pk}/run-helper-script/"
    assert client.post(url, format="json").status_code == 202  # no worker here: it stays pending
    second = client.post(url, format="json")
    assert second.status_code == 409 and second.json()["code"] == "helper_running"
    stopped = client.post(f"/api/v1/interruptions/{interruption.pk}/stop-helper-script/", format="json")
    assert stopped.status_code == 200 and stopped.json()["helper_runs"][0]["state"] == "cancelled"
    assert "Helper script stopped by Tina." in stopped.json()["helper_output"]
    again = client.post(f"/api/v1/interruptions/{interruption.pk}/stop-helper-script/", format="json")
    assert again.status_code == 409 and again.json()["code"] == "helper_not_running"


def test_the_deployment_page_offers_the_button_and_the_output_as_notes(
    octopus, root, tina, sarah, manual_test, engine, client
):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="echo 'answered 200'")
    page = f"/deployments/{interruption.deployment_id}/"
    client.force_login(tina)
    assert "Assign the step to yourself to run it." in client.get(page).content.decode()
    interruption_take(interruption=interruption, actor=tina)
    html = client.get(page).content.decode()
    assert "Run helper script" in html and "Runs on Relman's built-in runner" in html
    with engine():
        response = client.post(f"/interruptions/{interruption.pk}/run-helper-script/")
    assert response.status_code == 302
    html = client.get(page).content.decode()
    assert "is running on Relman&#x27;s built-in runner" in html
    assert "Run helper script again" in html and "Use as notes" in html
    # The notes box holds the output, for Tina to edit before she proceeds.
    assert 'placeholder="What you did, its output, links…">== Helper script: run by Tina' in html
    assert "answered 200" in html

    client.force_login(sarah)  # not in the Test Team: sees the output, not the button
    html = client.get(page).content.decode()
    assert "answered 200" in html and "Use as notes" not in html and "Run helper script" not in html


def test_while_it_runs_the_page_offers_stop_instead_of_run(octopus, root, tina, manual_test, engine, client):
    interruption = _waiting_at_helper(octopus, root, manual_test, engine, script="sleep 600")
    interruption_take(interruption=interruption, actor=tina)
    client.force_login(tina)
    client.post(f"/interruptions/{interruption.pk}/run-helper-script/")  # no worker: it stays pending
    html = client.get(f"/deployments/{interruption.deployment_id}/").content.decode()
    assert "Stop helper script" in html and "Run helper script" not in html
    with engine():
        client.post(f"/interruptions/{interruption.pk}/stop-helper-script/")
    html = client.get(f"/deployments/{interruption.deployment_id}/").content.decode()
    assert "Stopping the helper script of Check the site." in html
    assert "Run helper script again" in html and "Helper script stopped by Tina." in html
