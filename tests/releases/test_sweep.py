"""The periodic sweep repairs what should be moving and is not, and leaves the rest alone.

The sweep's decisions are tested here one by one, in this process; test_faults.py shows it
repairing real workers' faults."""

from datetime import timedelta

import pytest
from django.utils import timezone

from releases.choices import DeploymentState, StepState
from releases.engine import WORKER_LOST, _decide, deployments_sweep
from releases.models import Deployment
from releases.runner import Outcome
from releases.services import deployment_create, release_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def long_ago(settings):
    return timezone.now() - timedelta(seconds=settings.RELMAN_STUCK_AFTER_SECONDS + 1)


@pytest.fixture
def scripted(goodhealth, root):
    """A GoodHealth deployment whose message never reached a worker: still queued."""
    release = release_create(project=goodhealth.project, version="9.0.0", actor=root)
    return deployment_create(release=release, environment=goodhealth.environments[0], actor=root)


def test_a_deployment_whose_message_was_lost_is_advanced_again(scripted, long_ago, engine):
    Deployment.objects.filter(pk=scripted.pk).update(updated_at=long_ago)
    with engine():
        assert deployments_sweep().items() >= {"worker_lost": 0, "readvanced": 1}.items()
    scripted.refresh_from_db()
    assert scripted.state == DeploymentState.WAITING  # ran Build check, waits on Migrate Data


def test_a_recent_deployment_is_left_alone(scripted, engine):
    with engine():
        assert deployments_sweep().items() >= {"worker_lost": 0, "readvanced": 0}.items()
    scripted.refresh_from_db()
    assert scripted.state == DeploymentState.QUEUED


def test_a_long_script_with_a_fresh_heartbeat_is_left_alone(scripted, long_ago, engine):
    """Executing for longer than the threshold is not being stuck: the running step's
    heartbeat says its worker is alive."""
    scripted.steps.filter(position=1).update(
        state=StepState.RUNNING, started_at=long_ago, heartbeat_at=timezone.now(), attempts=1
    )
    Deployment.objects.filter(pk=scripted.pk).update(state=DeploymentState.EXECUTING, updated_at=long_ago)
    with engine():
        assert deployments_sweep().items() >= {"worker_lost": 0, "readvanced": 0}.items()
    assert scripted.steps.get(position=1).state == StepState.RUNNING


def test_a_script_whose_worker_died_fails_and_is_not_run_again(scripted, long_ago, engine):
    scripted.steps.filter(position=1).update(
        state=StepState.RUNNING, started_at=long_ago, heartbeat_at=long_ago, attempts=1
    )
    Deployment.objects.filter(pk=scripted.pk).update(state=DeploymentState.EXECUTING, updated_at=long_ago)
    with engine():
        assert deployments_sweep()["worker_lost"] == 1
    step = scripted.steps.get(position=1)
    assert (step.state, step.attempts) == (StepState.FAILED, 1)
    messages = list(scripted.log_entries.values_list("message", flat=True))
    assert WORKER_LOST in messages
    assert not any(m.startswith("Checking build") for m in messages)
    scripted.refresh_from_db()
    assert scripted.state == DeploymentState.FAILED


def test_an_outcome_arriving_after_the_sweep_failed_its_step_changes_nothing(scripted, long_ago, engine):
    """A worker too slow to beat its heartbeat finishes its script after the sweep declared
    it lost: its late "success" must not overwrite the verdict, and the deployment goes on
    from the steps as they are now, not as the worker last saw them."""

    running = _decide(scripted.pk)  # claims Build check
    assert running is not None and running.step.position == 1
    scripted.steps.filter(position=1).update(heartbeat_at=long_ago)
    with engine():
        assert deployments_sweep()["worker_lost"] == 1
    running.outcome = Outcome(exit_code=0)
    assert _decide(scripted.pk, running) is None
    step = scripted.steps.get(position=1)
    assert step.state == StepState.FAILED
    messages = list(scripted.log_entries.values_list("message", flat=True))
    assert "== Success: Step 1: Build check ==" not in messages
    assert messages.count("== Failed: Step 1: Build check ==") == 1
