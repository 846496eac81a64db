"""A real Celery worker process drives deployments: on SQLite with the filesystem broker
by default, on PostgreSQL + Redis when RELMAN_TEST_DATABASE_URL / RELMAN_TEST_BROKER_URL
are set (CI runs both)."""

import pytest

from releases.choices import DeploymentState
from releases.models import Deployment, Interruption
from releases.services import deployment_create, interruption_submit, interruption_take, release_create

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_worker_drives_deployment_through_script_and_two_manual_steps(
    goodhealth, root, worker, wait_for_state
):
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
        wait_for_state(deployment, DeploymentState.WAITING)
        interruption = Interruption.objects.get(deployment=deployment, pending=True)
        assert interruption.title == title
        interruption_take(interruption=interruption, actor=admin_ops)
        interruption_submit(
            interruption=interruption, actor=admin_ops, result="proceed", notes=f"{title} done"
        )

    wait_for_state(deployment, DeploymentState.SUCCESS)
    log = list(deployment.log_entries.values_list("message", flat=True))
    assert "Checking build of GoodHealth 5.0.0 for Integration" in log
    assert "Deploying GoodHealth 5.0.0 to Integration" in log
    assert "Notes: Migrate Data done" in log
    automatic = Deployment.objects.get(release=release, environment=testing)
    wait_for_state(automatic, DeploymentState.SUCCESS)
    assert automatic.created_by is None


def _script_only(project, script: str) -> None:
    from processes.models import Step

    project.steps.all().delete()
    Step.objects.create(project=project, name="Deploy", position=1, kind="script", script=script)


def _messages(deployment) -> list[str]:
    return list(deployment.log_entries.order_by("id").values_list("message", flat=True))


def test_script_output_reaches_the_log_while_it_runs(
    octopus, root, worker, wait_for, wait_for_state, script_dir
):
    gate = script_dir / "go"
    _script_only(octopus.project, f"echo first; while [ ! -e {gate} ]; do sleep 0.1; done; echo second")
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    wait_for(lambda: "first" in _messages(deployment), what="the first line while the script runs")
    assert "second" not in _messages(deployment)
    gate.touch()
    wait_for_state(deployment, DeploymentState.SUCCESS)
    assert _messages(deployment).index("first") < _messages(deployment).index("second")


def test_cancel_stops_a_running_script(octopus, root, sarah, worker, wait_for, script_dir):
    from releases.services import deployment_cancel

    marker = script_dir / "finished"
    _script_only(octopus.project, f"echo started; sleep 30; touch {marker}")
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    wait_for(lambda: "started" in _messages(deployment), what="the script to start")
    deployment_cancel(deployment=deployment, actor=sarah)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.CANCELLED
    wait_for(
        lambda: "== Cancelled: Step 1: Deploy ==" in _messages(deployment),
        timeout=15,
        what="the script to stop",
    )
    assert deployment.steps.get().state == "failed"
    assert not marker.exists()


def test_the_beat_starts_a_scheduled_deployment_and_times_out_its_intervention(
    octopus, root, worker, wait_for_state, wait_for
):
    """The worker's own beat does both: no test calls the sweep."""
    from datetime import timedelta

    from django.utils import timezone

    from processes.models import Step

    Step.objects.filter(project=octopus.project, position=1).update(timeout_minutes=1)
    release = release_create(project=octopus.project, version="6.0.0", actor=root)
    queue_at = timezone.now() + timedelta(seconds=2)
    deployment = deployment_create(
        release=release, environment=octopus.environments[0], actor=root, queue_at=queue_at
    )
    wait_for_state(deployment, DeploymentState.WAITING)
    assert deployment.started_at >= queue_at
    # A minute is long for a test: the due time is moved, the beat does the rest.
    Interruption.objects.filter(deployment=deployment, pending=True).update(due_at=timezone.now())
    wait_for_state(deployment, DeploymentState.FAILED)
    assert "No one answered within 1 minutes: aborted." in _messages(deployment)


def test_a_worker_runs_a_helper_script_streams_it_and_answering_stops_it(
    octopus, root, worker, wait_for, script_dir
):
    """Rung 2 on a real worker: the assignee's helper script runs on the built-in runner,
    its lines reach the task log while it runs, its output is offered as notes; a second
    run is stopped by Stop, a third by the answer."""
    from processes.models import Step
    from releases.models import StepRun
    from releases.services import interruption_run_helper, interruption_stop_helper
    from teams.models import Team

    gate = script_dir / "go"
    octopus.project.steps.all().delete()
    step = Step.objects.create(
        project=octopus.project,
        name="Check the site",
        position=1,
        kind="manual",
        script=f"echo checking; while [ ! -e {gate} ]; do sleep 0.1; done; echo 'site answered 200'",
    )
    step.responsible_teams.add(Team.objects.get(name="Test Team"))
    tina = octopus.users["tina"]
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    wait_for(
        lambda: Interruption.objects.filter(deployment=deployment, pending=True).first(), what="the step"
    )
    interruption = Interruption.objects.get(deployment=deployment, pending=True)
    interruption_take(interruption=interruption, actor=tina)

    interruption_run_helper(interruption=interruption, actor=tina)
    wait_for(lambda: "checking" in _messages(deployment), what="the helper's first line while it runs")
    gate.touch()
    wait_for(
        lambda: "site answered 200" in Interruption.objects.get(pk=interruption.pk).helper_output,
        what="the output offered as notes",
    )
    gate.unlink()
    interruption_run_helper(interruption=interruption, actor=tina)
    wait_for(lambda: _messages(deployment).count("checking") == 2, what="the second run to start")
    interruption_stop_helper(interruption=interruption, actor=tina)
    wait_for(
        lambda: "== Helper script stopped ==" in _messages(deployment), timeout=15, what="Stop to stop it"
    )
    interruption_run_helper(interruption=interruption, actor=tina)
    wait_for(lambda: _messages(deployment).count("checking") == 3, what="the third run to start")
    interruption_submit(interruption=interruption, actor=tina, result="proceed", notes="site loads")
    wait_for(
        lambda: StepRun.objects.get().state == "cancelled", timeout=15, what="the answer to stop the script"
    )
    wait_for(
        lambda: Deployment.objects.get(pk=deployment.pk).state == DeploymentState.SUCCESS, what="success"
    )
    assert _messages(deployment).count("site answered 200") == 1
