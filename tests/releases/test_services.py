"""Rules of the engine and the intervention services, as a person sees them."""

import pytest

from lifecycles.choices import PhaseRule
from processes.choices import RunCondition, StepKind
from processes.models import Step
from releases.choices import DeploymentState, StepState
from releases.engine import deployment_advance
from releases.models import Interruption
from releases.services import (
    deployment_cancel,
    deployment_create,
    interruption_submit,
    interruption_take,
    release_create,
)
from relman.exceptions import Conflict, InvalidInput, PermissionRefused
from teams.models import User


@pytest.fixture
def release(octopus, root, engine):
    with engine():
        return release_create(project=octopus.project, version="1.0.0", actor=root)


@pytest.fixture
def waiting(release, octopus, root, engine):
    """A deployment of 1.0.0 to Manual Test, paused at "Backup the database"."""
    with engine():
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    deployment.refresh_from_db()
    return deployment


def pending(deployment) -> Interruption:
    return Interruption.objects.get(deployment=deployment, pending=True)


def log_of(deployment) -> list[str]:
    return list(deployment.log_entries.values_list("message", flat=True))


def add_script_step(project, name, script, position, **fields):
    return Step.objects.create(
        project=project, name=name, kind=StepKind.SCRIPT, script=script, position=position, **fields
    )


# --- lifecycle --------------------------------------------------------------------------


def test_live_refused_until_test_succeeded_naming_the_missing_environment(release, octopus, root):
    with pytest.raises(Conflict) as refused:
        deployment_create(release=release, environment=octopus.environments[1], actor=root)
    assert str(refused.value) == (
        "Release 1.0.0 of Manual Deployment must first be deployed to Manual Test (phase Test)."
    )
    assert refused.value.code == "lifecycle"


def test_environment_outside_lifecycle_refused_naming_the_lifecycle(release, goodhealth, root):
    with pytest.raises(Conflict, match="not part of the lifecycle Manual Deployment Lifecycle"):
        deployment_create(release=release, environment=goodhealth.environments[0], actor=root)


def test_live_allowed_once_test_succeeded(waiting, release, octopus, sarah, olly, tina, engine):
    who = {"DBA Team": sarah, "Ops Team": olly, "Test Team": tina}
    for _ in range(8):
        interruption = pending(waiting)
        with engine():
            interruption_submit(
                interruption=interruption,
                actor=who[interruption.responsible_teams.get().name],
                result="proceed",
            )
    with engine():
        live = deployment_create(release=release, environment=octopus.environments[1], actor=sarah)
    live.refresh_from_db()
    assert live.state == DeploymentState.WAITING


def test_minimum_rule_opens_next_phase_after_n_successes(goodhealth, root, engine):
    integration, testing, production = goodhealth.environments
    phase = goodhealth.project.lifecycle.phases.get(name="Integration")
    phase.phase_environments.create(environment=production, automatic=False)
    testing_phase = goodhealth.project.lifecycle.phases.get(name="Testing")
    testing_phase.phase_environments.update(automatic=False)
    phase.rule, phase.minimum = PhaseRule.MINIMUM, 1
    phase.save()
    goodhealth.project.steps.filter(kind=StepKind.MANUAL).delete()
    with engine():
        release = release_create(project=goodhealth.project, version="3.0.0", actor=root)
        with pytest.raises(Conflict, match="must first be deployed to 1 more of Integration or Production"):
            deployment_create(release=release, environment=testing, actor=root)
        deployment_create(release=release, environment=integration, actor=root)
    with engine():
        deployment = deployment_create(release=release, environment=testing, actor=root)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.SUCCESS


def test_redeploy_to_reached_environment_allowed_after_lifecycle_changed(waiting, release, octopus, root):
    octopus.project.lifecycle.phases.update(rule=PhaseRule.ALL)
    assert deployment_create(release=release, environment=octopus.environments[0], actor=root)


# --- snapshot ---------------------------------------------------------------------------


def test_editing_the_process_does_not_change_an_existing_release(release, octopus):
    octopus.project.steps.filter(position=1).update(name="Backup everything")
    assert release.steps.get(position=1).name == "Backup the database"
    assert release.steps.get(position=1).responsible_teams.get().name == "DBA Team"


def test_duplicate_version_refused(release, octopus, root):
    with pytest.raises(Conflict, match="already has a release 1.0.0"):
        release_create(project=octopus.project, version="1.0.0", actor=root)


# --- take and submit --------------------------------------------------------------------


def test_manual_step_waits_for_its_team_and_logs_who(waiting):
    assert waiting.state == DeploymentState.WAITING
    log = log_of(waiting)
    assert 'Manual intervention "Backup the database" is waiting for DBA Team.' in log
    assert (
        "Deployment will pause until a member of DBA Team proceeds or aborts, or the deployment is cancelled."
        in log
    )


def test_take_refused_for_member_of_other_team(waiting, olly):
    with pytest.raises(PermissionRefused, match="Only members of DBA Team may take this step."):
        interruption_take(interruption=pending(waiting), actor=olly)


def test_take_refused_for_outsider_and_viewer(waiting, oscar, vera):
    for persona in (oscar, vera):
        with pytest.raises(PermissionRefused, match="DBA Team"):
            interruption_take(interruption=pending(waiting), actor=persona)


def test_superuser_not_in_team_needs_override_with_reason(waiting, root, sarah):
    interruption = pending(waiting)
    with pytest.raises(PermissionRefused):
        interruption_take(interruption=interruption, actor=root)
    with pytest.raises(InvalidInput, match="reason"):
        interruption_take(interruption=interruption, actor=root, override=True)
    interruption_take(interruption=interruption, actor=root, override=True, reason="DBA on leave")
    assert any(m.startswith("OVERRIDE: Root") for m in log_of(waiting))


def test_second_take_by_teammate_refused_until_take_over(waiting, sarah):
    colleague = User.objects.create_user("dave", display_name="Dave")
    colleague.teams.add(sarah.teams.get())
    interruption = pending(waiting)
    interruption_take(interruption=interruption, actor=sarah)
    interruption_take(interruption=interruption, actor=sarah)  # again: no change
    with pytest.raises(Conflict, match="already assigned to Sarah") as refused:
        interruption_take(interruption=interruption, actor=colleague)
    assert refused.value.code == "already_taken"
    interruption_take(interruption=interruption, actor=colleague, take_over=True)
    interruption.refresh_from_db()
    assert interruption.assignee == colleague
    assert "Dave took over Backup the database from Sarah." in log_of(waiting)


def test_only_assignee_may_submit(waiting, sarah):
    colleague = User.objects.create_user("dave", display_name="Dave")
    colleague.teams.add(sarah.teams.get())
    interruption = pending(waiting)
    interruption_take(interruption=interruption, actor=sarah)
    with pytest.raises(Conflict, match="assigned to Sarah; only they may submit"):
        interruption_submit(interruption=interruption, actor=colleague, result="proceed")


def test_submit_without_take_takes_and_submits(waiting, sarah, engine):
    with engine():
        interruption_submit(
            interruption=pending(waiting), actor=sarah, result="proceed", notes="backup.bak 3 GB"
        )
    first = waiting.interruptions.get(title="Backup the database")
    assert (first.assignee, first.submitted_by, first.pending) == (sarah, sarah, False)
    assert pending(waiting).title == "Upgrade the database"


def test_submit_twice_refused_as_already_submitted(waiting, sarah, engine):
    interruption = pending(waiting)
    with engine():
        interruption_submit(interruption=interruption, actor=sarah, result="proceed")
    with pytest.raises(Conflict, match="already submitted by Sarah") as refused:
        interruption_submit(interruption=interruption, actor=sarah, result="proceed")
    assert refused.value.code == "already_submitted"


def test_oversized_notes_refused_and_nothing_changes(waiting, sarah):
    interruption = pending(waiting)
    with pytest.raises(InvalidInput, match="20,000"):
        interruption_submit(interruption=interruption, actor=sarah, result="proceed", notes="x" * 20_001)
    interruption.refresh_from_db()
    assert interruption.pending and interruption.assignee is None


def test_wrong_answer_for_the_type_refused(waiting, sarah):
    with pytest.raises(InvalidInput, match='"proceed" or "abort"'):
        interruption_submit(interruption=pending(waiting), actor=sarah, guidance="retry")


def test_prevent_self_approval_refuses_the_deployments_creator(octopus, sarah, root, engine):
    octopus.project.steps.filter(position=1).update(prevent_self_approval=True)
    with engine():
        release = release_create(project=octopus.project, version="1.0.1", actor=root)
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=sarah)
    with pytest.raises(PermissionRefused, match="prevents self-approval"):
        interruption_take(interruption=pending(deployment), actor=sarah)


def test_override_refused_for_the_superuser_who_created_the_deployment(waiting, root):
    interruption = pending(waiting)
    Interruption.objects.filter(pk=interruption.pk).update(prevent_self_approval=True)
    interruption.refresh_from_db()
    with pytest.raises(PermissionRefused, match="prevents self-approval"):
        interruption_take(interruption=interruption, actor=root, override=True, reason="DBA on leave")
    interruption.refresh_from_db()
    assert interruption.assignee is None


def test_step_without_team_may_be_taken_by_a_deployer_only(octopus, sarah, vera, engine, root):
    octopus.project.steps.get(position=1).responsible_teams.clear()
    with engine():
        release = release_create(project=octopus.project, version="1.0.2", actor=root)
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    assert 'Manual intervention "Backup the database" is waiting for a deployer.' in log_of(deployment)
    with pytest.raises(PermissionRefused, match="only deployers"):
        interruption_take(interruption=pending(deployment), actor=vera)
    interruption_take(interruption=pending(deployment), actor=sarah)


# --- abort, run conditions, scripts -----------------------------------------------------


def test_abort_fails_the_deployment_and_runs_only_failure_and_always_steps(
    octopus, sarah, root, engine, tmp_path
):
    add_script_step(
        octopus.project, "Notify on failure", "echo failure path", 9, run_condition=RunCondition.FAILURE
    )
    add_script_step(
        octopus.project, "Always clean up", "echo cleaning", 10, run_condition=RunCondition.ALWAYS
    )
    with engine():
        release = release_create(project=octopus.project, version="1.1.0", actor=root)
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    with engine():
        interruption_submit(interruption=pending(deployment), actor=sarah, result="abort", notes="disk full")
    deployment.refresh_from_db()
    states = dict(deployment.steps.values_list("position", "state"))
    assert deployment.state == DeploymentState.FAILED
    assert states[1] == StepState.ABORTED
    assert all(states[p] == StepState.SKIPPED for p in range(2, 9))
    assert states[9] == states[10] == StepState.SUCCESS
    assert "failure path" in log_of(deployment)


def test_script_output_and_variables_reach_the_task_log(goodhealth, root, engine):
    with engine():
        release = release_create(project=goodhealth.project, version="2.1.0", actor=root)
        deployment = deployment_create(release=release, environment=goodhealth.environments[0], actor=root)
    step = deployment.steps.get(position=1)
    assert step.state == StepState.SUCCESS and step.exit_code == 0
    assert "Checking build of GoodHealth 2.1.0 for Integration" in log_of(deployment)


def test_failing_script_fails_the_deployment_with_exit_code(goodhealth, root, engine):
    goodhealth.project.steps.filter(name="Build check").update(script="echo broken >&2; exit 3")
    with engine():
        release = release_create(project=goodhealth.project, version="2.2.0", actor=root)
        deployment = deployment_create(release=release, environment=goodhealth.environments[0], actor=root)
    deployment.refresh_from_db()
    step = deployment.steps.get(position=1)
    assert deployment.state == DeploymentState.FAILED
    assert (step.state, step.exit_code) == (StepState.FAILED, 3)
    assert "The script exited with code 3." in log_of(deployment)
    assert deployment.log_entries.get(message="broken").level == "error"


def test_script_timeout_stops_it(goodhealth, root, engine):
    goodhealth.project.steps.filter(name="Build check").update(script="sleep 30", timeout_seconds=1)
    with engine():
        release = release_create(project=goodhealth.project, version="2.3.0", actor=root)
        deployment = deployment_create(release=release, environment=goodhealth.environments[0], actor=root)
    assert "The script timed out after 1 seconds and was stopped." in log_of(deployment)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.FAILED


def test_steps_not_for_this_environment_are_skipped_with_reason(goodhealth, root, engine):
    integration, testing, _ = goodhealth.environments
    with engine():
        release = release_create(project=goodhealth.project, version="2.4.0", actor=root)
        deployment_create(release=release, environment=integration, actor=root)
    with engine():
        interruption_submit(
            interruption=Interruption.objects.get(pending=True),
            actor=goodhealth.users["admin-ops"],
            result="proceed",
        )
    in_testing = release.deployments.get(environment=testing)
    migrate = in_testing.steps.get(position=2)
    assert migrate.state == StepState.SKIPPED
    assert migrate.skip_reason == "the step runs only in Integration."


# --- cancel, queueing, idempotency ------------------------------------------------------


def test_cancel_closes_the_pending_interruption(waiting, sarah, engine):
    with engine():
        deployment_cancel(deployment=waiting, actor=sarah)
    waiting.refresh_from_db()
    assert waiting.state == DeploymentState.CANCELLED
    with pytest.raises(Conflict, match="cancelled"):
        interruption_take(interruption=waiting.interruptions.get(), actor=sarah)


def test_cancel_refused_for_viewer_and_finished_deployment(waiting, vera, sarah, engine):
    with pytest.raises(PermissionRefused, match="deployer"):
        deployment_cancel(deployment=waiting, actor=vera)
    with engine():
        deployment_cancel(deployment=waiting, actor=sarah)
    deployment_cancel(deployment=waiting, actor=sarah)  # again: no change


def test_blocking_step_holds_the_slot_and_next_deployment_starts_after(
    waiting, release, octopus, sarah, root, engine
):
    with engine():
        second = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    second.refresh_from_db()
    assert second.state == DeploymentState.QUEUED
    with engine():
        deployment_cancel(deployment=waiting, actor=sarah)
    second.refresh_from_db()
    assert second.state == DeploymentState.WAITING


def test_non_blocking_step_lets_the_next_deployment_run(octopus, root, engine):
    octopus.project.steps.update(block_deployments=False)
    with engine():
        release = release_create(project=octopus.project, version="1.2.0", actor=root)
        first = deployment_create(release=release, environment=octopus.environments[0], actor=root)
        second = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    first.refresh_from_db(), second.refresh_from_db()
    assert first.state == second.state == DeploymentState.WAITING


def test_advancing_twice_changes_nothing(waiting):
    before = (waiting.log_entries.count(), Interruption.objects.count())
    deployment_advance(waiting.pk)
    deployment_advance(waiting.pk)
    assert (waiting.log_entries.count(), Interruption.objects.count()) == before


def test_messages_are_sent_only_after_commit(release, octopus, root, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
        deployment.refresh_from_db()
        assert deployment.state == DeploymentState.QUEUED
    assert len(callbacks) == 1


def test_releases_rank_by_semver_and_others_by_creation_time(octopus, root):
    from releases.models import Release

    for version in ["1.10.0", "1.9.0", "1.10.0-rc.1", "2.0.0-alpha", "1.2.3"]:
        release_create(project=octopus.project, version=version, actor=root)
    ranked = list(Release.objects.filter(project=octopus.project).values_list("version", flat=True))
    assert ranked == ["2.0.0-alpha", "1.10.0", "1.10.0-rc.1", "1.9.0", "1.2.3"]


# --- guided failure ---------------------------------------------------------------------


@pytest.fixture
def flaky(goodhealth, root, engine, script_dir):
    """GoodHealth with a Build check that fails until a file exists, guided failure on."""
    switch = script_dir / "fixed"
    goodhealth.project.steps.filter(name="Build check").update(script=f"echo checking; test -e {switch}")
    with engine():
        release = release_create(project=goodhealth.project, version="4.0.0", actor=root)
        deployment = deployment_create(
            release=release, environment=goodhealth.environments[0], actor=root, guided_failure=True
        )
    deployment.refresh_from_db()
    return deployment, switch, goodhealth.users["admin-ops"]


def test_failed_script_with_guided_failure_asks_a_person(flaky):
    deployment, _, _ = flaky
    interruption = pending(deployment)
    assert deployment.state == DeploymentState.WAITING
    assert interruption.type == "guided_failure"
    assert interruption.blocks_deployments
    assert "The script exited with code 1." in interruption.instructions


def test_guided_failure_retry_runs_the_step_again(flaky, engine):
    deployment, switch, person = flaky
    switch.touch()
    with engine():
        interruption_submit(
            interruption=pending(deployment), actor=person, guidance="retry", notes="fixed it"
        )
    step = deployment.steps.get(position=1)
    assert (step.state, step.attempts) == (StepState.SUCCESS, 2)
    assert "== Running: Step 1: Build check (attempt 2) ==" in log_of(deployment)
    assert pending(deployment).title == "Migrate Data"


def test_guided_failure_ignore_skips_and_continues(flaky, engine):
    deployment, _, person = flaky
    with engine():
        interruption_submit(interruption=pending(deployment), actor=person, guidance="ignore")
    step = deployment.steps.get(position=1)
    assert (step.state, step.skip_reason) == (StepState.SKIPPED, "Failure ignored by choice.")
    assert pending(deployment).title == "Migrate Data"


def test_guided_failure_fail_fails_the_deployment(flaky, engine):
    deployment, _, person = flaky
    with engine():
        interruption_submit(interruption=pending(deployment), actor=person, guidance="fail")
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.FAILED
    assert deployment.steps.get(position=1).state == StepState.FAILED


def test_guided_failure_allows_at_most_ten_retries(flaky, engine):
    from releases.choices import MAX_RETRIES_PER_STEP

    deployment, _, person = flaky
    for _ in range(MAX_RETRIES_PER_STEP):
        with engine():
            interruption_submit(interruption=pending(deployment), actor=person, guidance="retry")
    deployment.refresh_from_db()
    step = deployment.steps.get(position=1)
    assert step.attempts == MAX_RETRIES_PER_STEP + 1
    assert (step.state, deployment.state) == (StepState.FAILED, DeploymentState.FAILED)
    assert not deployment.interruptions.filter(pending=True).exists()


# --- resuming after an intervention -------------------------------------------------------


def _proceed(engine, deployment, person, times=1):
    for _ in range(times):
        with engine():
            interruption_submit(interruption=pending(deployment), actor=person, result="proceed")


def test_answer_resumes_at_once_when_the_slot_is_free(
    waiting, sarah, olly, engine, django_capture_on_commit_callbacks
):
    """Step 3 does not block deployments; nothing else wants Manual Test, so proceeding
    puts the deployment straight back to executing: the worker only raises step 4."""
    _proceed(engine, waiting, sarah, times=2)
    assert pending(waiting).step.position == 3
    with django_capture_on_commit_callbacks(execute=False) as sent:
        interruption_submit(interruption=pending(waiting), actor=olly, result="proceed")
    waiting.refresh_from_db()
    assert waiting.state == DeploymentState.EXECUTING
    assert len(sent) == 2  # the advance, then the answer's notification event
    sent[0]()
    assert pending(waiting).step.position == 4


def test_answer_queues_behind_a_deployment_holding_the_slot(
    waiting, octopus, release, sarah, olly, root, engine
):
    """While 1.0.0 waited on a step that lets others run, 1.1.0 started and now waits on
    a blocking step: answering 1.0.0 queues it behind 1.1.0 until 1.1.0 lets go."""
    from releases.selectors import deployment_queue_position

    _proceed(engine, waiting, sarah, times=2)  # 1.0.0 now waits on step 3, which blocks nothing
    with engine():
        newer = release_create(project=octopus.project, version="1.1.0", actor=root)
        other = deployment_create(release=newer, environment=octopus.environments[0], actor=root)
    other.refresh_from_db()
    assert other.state == DeploymentState.WAITING and pending(other).blocks_deployments

    with engine():
        interruption_submit(interruption=pending(waiting), actor=olly, result="proceed")
    waiting.refresh_from_db()
    assert waiting.state == DeploymentState.QUEUED
    assert deployment_queue_position(waiting) == other

    _proceed(engine, other, sarah, times=2)  # 1.1.0 reaches step 3 and lets 1.0.0 go on
    waiting.refresh_from_db()
    assert waiting.state == DeploymentState.WAITING
    assert pending(waiting).step.position == 4


def test_script_output_is_cut_into_lines_however_it_arrives(goodhealth, root, engine):
    long_line = "x" * 70_000
    goodhealth.project.steps.filter(name="Build check").update(
        script=f"printf 'one\\r\\ntwo\\n'; printf '{long_line}\\n'; printf 'no newline at the end'"
    )
    with engine():
        release = release_create(project=goodhealth.project, version="2.5.0", actor=root)
        deployment = deployment_create(release=release, environment=goodhealth.environments[0], actor=root)
    output = list(
        deployment.log_entries.filter(step__position=1, level="info")
        .exclude(message__startswith="==")
        .values_list("message", flat=True)
    )
    assert output[:2] == ["one", "two"]
    assert "".join(output[2:-1]) == long_line  # in pieces of at most 64 KiB
    assert max(len(piece) for piece in output) <= 64 * 1024, [len(piece) for piece in output]
    assert output[-1] == "no newline at the end"
