"""Two actors at once: exactly one wins, the other gets a clear "already …" answer.

These run with real transactions and one database connection per thread, on SQLite by
default and on PostgreSQL in CI (RELMAN_TEST_DATABASE_URL)."""

import threading
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection

from processes.choices import StepKind
from processes.models import Step
from releases import engine as engine_module
from releases.choices import DeploymentState, StepState
from releases.engine import deployment_advance
from releases.models import Deployment, Interruption
from releases.services import (
    deployment_cancel,
    deployment_create,
    interruption_submit,
    interruption_take,
    release_create,
)
from relman.exceptions import Conflict
from teams.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def race(*calls):
    """Runs the calls at the same moment on separate threads and connections; returns
    each one's result or exception, in order."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.fixture
def waiting(octopus, root):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    return Interruption.objects.get(deployment=deployment, pending=True)


def test_two_people_assign_at_once_one_wins(waiting, sarah):
    dave = User.objects.create_user("dave", display_name="Dave")
    dave.teams.add(sarah.teams.get())
    outcomes = race(
        lambda: interruption_take(interruption=waiting, actor=sarah),
        lambda: interruption_take(interruption=waiting, actor=dave),
    )
    winners = [o for o in outcomes if isinstance(o, Interruption)]
    losers = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].code == "already_taken"
    waiting.refresh_from_db()
    assert waiting.assignee == winners[0].assignee


def test_double_submit_proceeds_once(waiting, sarah):
    interruption_take(interruption=waiting, actor=sarah)
    outcomes = race(
        lambda: interruption_submit(interruption=waiting, actor=sarah, result="proceed", notes="a"),
        lambda: interruption_submit(interruption=waiting, actor=sarah, result="proceed", notes="b"),
    )
    assert sum(isinstance(o, Interruption) for o in outcomes) == 1, outcomes
    assert [o.code for o in outcomes if isinstance(o, Conflict)] == ["already_submitted"]
    deployment = waiting.deployment
    assert deployment.interruptions.filter(title="Upgrade the database").count() == 1
    assert deployment.log_entries.filter(message__startswith="Submitted by: Sarah").count() == 1


def test_two_workers_advancing_one_deployment_run_its_script_once(octopus, root, script_dir: Path):
    marker = script_dir / "ran"
    octopus.project.steps.all().delete()
    Step.objects.create(
        project=octopus.project,
        name="Migrate",
        position=1,
        kind=StepKind.SCRIPT,
        script=f"echo run >> {marker}",
    )
    release = release_create(project=octopus.project, version="9.0.0", actor=root)
    # The deployment's own message is held back so that only the two racers advance it.
    with mock.patch.object(engine_module, "enqueue_advance"):
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    outcomes = race(lambda: deployment_advance(deployment.pk), lambda: deployment_advance(deployment.pk))
    assert outcomes == [None, None]
    assert marker.read_text() == "run\n"
    assert deployment.steps.get().state == StepState.SUCCESS


def test_submit_and_cancel_at_once_end_cancelled_without_a_database_error(octopus, root, sarah):
    """Both lock the deployment before the interruption, so neither waits on the other in
    a cycle (which PostgreSQL would break by failing one with a deadlock error)."""
    for n in range(5):
        release = release_create(project=octopus.project, version=f"1.0.{n}", actor=root)
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
        waiting = Interruption.objects.get(deployment=deployment, pending=True)
        interruption_take(interruption=waiting, actor=sarah)
        outcomes = race(
            lambda waiting=waiting: interruption_submit(interruption=waiting, actor=sarah, result="proceed"),
            lambda deployment=deployment: deployment_cancel(deployment=deployment, actor=sarah),
        )
        assert isinstance(outcomes[1], Deployment), outcomes
        assert isinstance(outcomes[0], Interruption) or outcomes[0].code == "already_closed", outcomes
        deployment.refresh_from_db()
        assert deployment.state == DeploymentState.CANCELLED
        assert not deployment.interruptions.filter(pending=True).exists()


def _quorum(octopus, root, required: int) -> tuple[Interruption, list[User]]:
    """A deployment waiting at "Backup the database", which needs ``required`` of DBA
    Team's members: sarah and three more."""
    team = octopus.users["sarah"].teams.get()
    people = [octopus.users["sarah"]]
    for name in ("dave", "erin", "fred"):
        people.append(User.objects.create_user(name, display_name=name.capitalize()))
        team.members.add(people[-1])
    Step.objects.filter(project=octopus.project, position=1).update(required_approvals=required)
    release = release_create(project=octopus.project, version="7.0.0", actor=root)
    deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    return Interruption.objects.get(deployment=deployment, pending=True), people


def test_two_approvers_at_the_same_instant_are_both_counted_once(octopus, root):
    waiting, (sarah, dave, *_) = _quorum(octopus, root, 3)
    outcomes = race(
        lambda: interruption_submit(interruption=waiting, actor=sarah, result="proceed"),
        lambda: interruption_submit(interruption=waiting, actor=dave, result="proceed"),
    )
    assert all(isinstance(o, Interruption) for o in outcomes), outcomes
    waiting.refresh_from_db()
    assert waiting.pending
    assert sorted(waiting.approvals.values_list("user__username", flat=True)) == ["dave", "sarah"]
    counts = sorted(
        line.rsplit("(", 1)[1]
        for line in waiting.deployment.log_entries.filter(message__startswith="Approved by:").values_list(
            "message", flat=True
        )
    )
    assert counts == ["1 of 3)", "2 of 3)"]


def test_the_last_approval_and_an_abort_at_once_give_exactly_one_outcome(octopus, root):
    waiting, (sarah, dave, erin, _) = _quorum(octopus, root, 2)
    interruption_submit(interruption=waiting, actor=sarah, result="proceed")
    outcomes = race(
        lambda: interruption_submit(interruption=waiting, actor=dave, result="proceed"),
        lambda: interruption_submit(interruption=waiting, actor=erin, result="abort"),
    )
    winners = [o for o in outcomes if isinstance(o, Interruption)]
    losers = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(winners) == 1 and [o.code for o in losers] == ["already_submitted"], outcomes
    waiting.refresh_from_db()
    step = waiting.step
    assert not waiting.pending
    expected = StepState.SUCCESS if waiting.result == "proceed" else StepState.ABORTED
    assert step.state == expected
    assert waiting.deployment.log_entries.filter(message__startswith="Submitted by:").count() == 1


def test_two_runs_of_a_helper_script_at_once_one_runs(octopus, root):
    """Sarah clicks Run helper script twice (two tabs): one run per target, the other
    click answered "already running"."""
    from lifecycles.models import Environment
    from releases.models import StepRun
    from releases.services import interruption_run_helper
    from targets.services import target_create

    manual_test = Environment.objects.get(slug="manual-test")
    target_create(name="web-a", environments=[manual_test], roles=["web"], actor=None)
    Step.objects.filter(project=octopus.project, position=1).update(
        script="echo checking", target_roles=["web"]
    )
    release = release_create(project=octopus.project, version="2.0.0", actor=root)
    deployment = deployment_create(release=release, environment=manual_test, actor=root)
    interruption = Interruption.objects.get(deployment=deployment, pending=True)
    sarah = octopus.users["sarah"]
    interruption_take(interruption=interruption, actor=sarah)
    outcomes = race(
        lambda: interruption_run_helper(interruption=interruption, actor=sarah),
        lambda: interruption_run_helper(interruption=interruption, actor=sarah),
    )
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(refused) == 1 and refused[0].code == "helper_running", outcomes
    run = StepRun.objects.get()
    assert (run.attempt, run.state) == (1, "pending")
