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
