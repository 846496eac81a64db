from releases.choices import DeploymentState, StepState
from releases.models import Interruption
from releases.services import deployment_create, interruption_submit, interruption_take, release_create


def test_checklist_runs_end_to_end(octopus, engine, root):
    users = octopus.users
    with engine():
        release = release_create(project=octopus.project, version="1.0.0", actor=root)
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.WAITING
    who = {"DBA Team": users["sarah"], "Ops Team": users["olly"], "Test Team": users["tina"]}
    for _ in range(8):
        interruption = Interruption.objects.get(deployment=deployment, pending=True)
        actor = who[interruption.responsible_teams.get().name]
        with engine():
            interruption_take(interruption=interruption, actor=actor)
            interruption_submit(interruption=interruption, actor=actor, result="proceed", notes="42 passed")
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.SUCCESS
    assert set(deployment.steps.values_list("state", flat=True)) == {StepState.SUCCESS}
    log = list(deployment.log_entries.values_list("message", flat=True))
    assert "== Success: Step 1: Backup the database ==" in log
    assert any(m.startswith("Submitted by: Sarah (DBA Team) at ") for m in log)
    assert "Notes: 42 passed" in log


def test_goodhealth_pauses_then_testing_starts_by_itself(goodhealth, engine, root):
    integration, testing, _ = goodhealth.environments
    with engine():
        release = release_create(project=goodhealth.project, version="2.0.0", actor=root)
        deployment = deployment_create(release=release, environment=integration, actor=root)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.WAITING
    log = list(deployment.log_entries.values_list("message", flat=True))
    assert "Checking build of GoodHealth 2.0.0 for Integration" in log
    assert 'Manual intervention "Migrate Data" is waiting for Admin.' in log
    interruption = Interruption.objects.get(deployment=deployment, pending=True)
    with engine():
        interruption_submit(
            interruption=interruption, actor=goodhealth.users["admin-ops"], result="proceed", notes="done"
        )
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.SUCCESS
    auto = release.deployments.get(environment=testing)
    assert auto.created_by is None
    assert auto.state == DeploymentState.SUCCESS
