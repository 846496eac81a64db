"""SPEC §14: quorum, timeouts, scheduled deployments and freezes, on the engine's verbs,
with a clock the tests move (``clock``)."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from processes.models import Step
from processes.services import StepSpec, process_step_errors
from releases.choices import DeploymentState, StepState
from releases.engine import deployments_sweep
from releases.models import Deployment, Interruption
from releases.selectors import interruption_list_actionable
from releases.services import (
    deployment_cancel,
    deployment_create,
    freeze_create,
    interruption_submit,
    interruption_take,
    release_create,
)
from relman.exceptions import Conflict, InvalidInput, PermissionRefused
from teams.models import AuditEvent, Team, User

T0 = datetime(2026, 12, 24, 18, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    """The engine's and the services' ``timezone.now``, at T0 until a test moves it."""
    moving = Clock(T0)
    with mock.patch("django.utils.timezone.now", moving):
        yield moving


@pytest.fixture
def dba(octopus):
    """DBA Team with three members: sarah, dave and erin."""
    team = Team.objects.get(name="DBA Team")
    for name in ("dave", "erin"):
        team.members.add(User.objects.create_user(name, display_name=name.capitalize()))
    return team


@pytest.fixture
def release(octopus, root, engine, clock):
    with engine():
        return release_create(project=octopus.project, version="1.0.0", actor=root)


def first_step(octopus, **fields) -> None:
    Step.objects.filter(project=octopus.project, position=1).update(**fields)


def deploy(release, octopus, actor, engine, **options) -> Deployment:
    with engine():
        deployment = deployment_create(
            release=release, environment=octopus.environments[0], actor=actor, **options
        )
    deployment.refresh_from_db()
    return deployment


def pending(deployment) -> Interruption:
    return Interruption.objects.get(deployment=deployment, pending=True)


def log_of(deployment) -> list[str]:
    return list(deployment.log_entries.values_list("message", flat=True))


def answer(interruption, user, result, engine, notes=""):
    with engine():
        return interruption_submit(interruption=interruption, actor=user, result=result, notes=notes)


@pytest.fixture
def quorum(octopus, dba, root, engine, clock):
    """A deployment waiting at "Backup the database", which needs 2 of DBA Team's 3."""
    first_step(octopus, required_approvals=2)
    with engine():
        release = release_create(project=octopus.project, version="2.0.0", actor=root)
    return deploy(release, octopus, root, engine)


# --- quorum -----------------------------------------------------------------------------


def test_two_distinct_proceeds_complete_a_quorum_of_two(quorum, sarah, engine):
    dave = User.objects.get(username="dave")
    interruption = pending(quorum)
    answer(interruption, sarah, "proceed", engine, notes="Backup checked")
    interruption.refresh_from_db()
    assert interruption.pending and quorum.steps.get(position=1).state == StepState.WAITING
    assert any(
        line.startswith("Approved by: Sarah (DBA Team) at") and line.endswith("(1 of 2)")
        for line in log_of(quorum)
    )

    with pytest.raises(Conflict) as again:
        answer(interruption, sarah, "proceed", engine)
    assert again.value.code == "already_answered"

    answer(interruption, dave, "proceed", engine, notes="Looks good")
    interruption.refresh_from_db()
    assert not interruption.pending and interruption.result == "proceed"
    assert [(a.user.username, a.result, a.notes) for a in interruption.approvals.all()] == [
        ("sarah", "proceed", "Backup checked"),
        ("dave", "proceed", "Looks good"),
    ]
    assert quorum.steps.get(position=1).state == StepState.SUCCESS
    actions = list(
        AuditEvent.objects.filter(action__startswith="interruption.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["interruption.approved", "interruption.submitted"]


def test_one_abort_ends_a_quorum(quorum, sarah, engine):
    erin = User.objects.get(username="erin")
    interruption = pending(quorum)
    answer(interruption, sarah, "proceed", engine)
    answer(interruption, erin, "abort", engine, notes="Backup failed")
    interruption.refresh_from_db()
    assert not interruption.pending and interruption.result == "abort"
    assert quorum.steps.get(position=1).state == StepState.ABORTED


def test_my_tasks_lists_a_quorum_for_everyone_who_has_not_answered(quorum, sarah, olly, engine):
    dave = User.objects.get(username="dave")
    interruption = pending(quorum)
    assert list(interruption_list_actionable(sarah)) == [interruption]
    answer(interruption, sarah, "proceed", engine)
    assert list(interruption_list_actionable(sarah)) == []
    assert list(interruption_list_actionable(dave)) == [interruption]
    assert list(interruption_list_actionable(olly)) == []


def test_a_quorum_is_not_taken_and_outsiders_and_self_approvers_are_refused(
    octopus, dba, root, sarah, olly, engine, clock
):
    first_step(octopus, required_approvals=2, prevent_self_approval=True)
    with engine():
        release = release_create(project=octopus.project, version="2.0.0", actor=root)
    interruption = pending(deploy(release, octopus, sarah, engine))
    with pytest.raises(Conflict) as taken:
        interruption_take(interruption=interruption, actor=User.objects.get(username="dave"))
    assert taken.value.code == "quorum"
    with pytest.raises(PermissionRefused, match="Only members of DBA Team"):
        answer(interruption, olly, "proceed", engine)
    with pytest.raises(PermissionRefused, match="prevents self-approval"):
        answer(interruption, sarah, "proceed", engine)


def test_a_quorum_larger_than_the_teams_is_refused_naming_them_and_their_size(octopus):
    dba, ops = Team.objects.get(name="DBA Team"), Team.objects.get(name="Ops Team")
    errors = process_step_errors(
        [
            StepSpec(name="A", responsible_teams=[dba, ops], required_approvals=3),
            StepSpec(name="B", required_approvals=0),
            StepSpec(name="C", responsible_teams=[dba, ops], required_approvals=2, on_timeout="proceed"),
            StepSpec(name="D", required_approvals=2),
        ]
    )
    assert errors[0] == {
        "required_approvals": [
            "3 approvals are more than the 2 people who may approve: DBA Team (1 person), Ops Team (1 person)."
        ]
    }
    assert errors[1] == {"required_approvals": ["A step needs at least 1 approval."]}
    assert errors[2] == {
        "on_timeout": [
            "A step that needs 2 approvals cannot proceed on its timeout: a quorum cannot be assumed."
        ]
    }
    assert "need responsible teams" in errors[3]["required_approvals"][0]


# --- timeouts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on_timeout", "outcome", "state"),
    [("abort", "aborted", StepState.ABORTED), ("proceed", "proceeded", StepState.SUCCESS)],
)
def test_no_answer_within_the_timeout_is_answered_by_the_system(
    octopus, release, root, engine, clock, on_timeout, outcome, state
):
    first_step(octopus, timeout_minutes=5, on_timeout=on_timeout)
    with engine():
        release = release_create(project=octopus.project, version="3.0.0", actor=root)
    deployment = deploy(release, octopus, root, engine)
    interruption = pending(deployment)
    assert interruption.due_at == T0 + timedelta(minutes=5)

    clock.advance(minutes=4, seconds=59)
    with engine():
        assert deployments_sweep()["timed_out"] == 0
    clock.advance(seconds=1)
    with engine():
        assert deployments_sweep()["timed_out"] == 1
        assert deployments_sweep()["timed_out"] == 0

    interruption.refresh_from_db()
    assert (
        not interruption.pending and interruption.submitted_by is None and interruption.result == on_timeout
    )
    assert deployment.steps.get(position=1).state == state
    assert f"No one answered within 5 minutes: {outcome}." in log_of(deployment)
    [approval] = interruption.approvals.all()
    assert approval.user is None and approval.result == on_timeout
    event = AuditEvent.objects.get(action="interruption.timed_out")
    assert event.actor is None and event.changes == {"result": on_timeout, "timeout_minutes": 5}


# --- scheduled deployments --------------------------------------------------------------


def test_queue_at_in_the_past_or_beyond_a_year_is_refused(release, octopus, root, clock):
    for queue_at, code in ((T0, "queue_at_past"), (T0 + timedelta(days=367), "queue_at_too_far")):
        with pytest.raises(InvalidInput) as refused:
            deployment_create(
                release=release, environment=octopus.environments[0], actor=root, queue_at=queue_at
            )
        assert refused.value.code == code


def test_a_scheduled_deployment_waits_then_the_sweep_starts_it(release, octopus, root, engine, clock):
    deployment = deploy(release, octopus, root, engine, queue_at=T0 + timedelta(hours=2))
    assert deployment.state == DeploymentState.QUEUED
    assert "to start at 2026-12-24T20:00:00Z." in log_of(deployment)[0]
    clock.advance(hours=1, minutes=59)
    with engine():
        assert deployments_sweep()["scheduled_due"] == 0
    clock.advance(minutes=1)
    with engine():
        assert deployments_sweep()["scheduled_due"] == 1
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.WAITING


def test_a_scheduled_deployment_can_be_cancelled_before_it_starts(release, octopus, root, engine, clock):
    deployment = deploy(release, octopus, root, engine, queue_at=T0 + timedelta(hours=2))
    with engine():
        deployment_cancel(deployment=deployment, actor=root)
    clock.advance(hours=3)
    with engine():
        deployments_sweep()
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.CANCELLED and deployment.started_at is None


def test_a_scheduled_deployment_the_lifecycle_refuses_at_start_fails_with_the_reason(
    release, octopus, root, engine, clock
):
    deployment = deploy(release, octopus, root, engine, queue_at=T0 + timedelta(hours=1))
    octopus.project.disabled = True
    octopus.project.save()
    clock.advance(hours=1)
    with engine():
        deployments_sweep()
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.FAILED
    assert "Not started: Manual Deployment is disabled; enable it before deploying." in log_of(deployment)
    assert not deployment.steps.exclude(state=StepState.SKIPPED).exists()


# --- freezes ----------------------------------------------------------------------------


@pytest.fixture
def holidays(octopus, root, clock):
    return freeze_create(
        name="Holidays",
        reason="Nobody is on call",
        start=T0,
        end=T0 + timedelta(days=1),
        environments=[octopus.environments[0]],
        actor=root,
    )


def test_a_freeze_refuses_from_its_start_inclusive_to_its_end_exclusive(
    release, octopus, root, engine, clock, holidays
):
    clock.now = T0 - timedelta(seconds=1)
    assert deploy(release, octopus, root, engine).state == DeploymentState.WAITING
    Deployment.objects.update(state=DeploymentState.CANCELLED)
    for moment in (T0, T0 + timedelta(days=1) - timedelta(seconds=1)):
        clock.now = moment
        with pytest.raises(Conflict) as refused:
            deploy(release, octopus, root, engine)
        assert refused.value.code == "frozen"
        assert str(refused.value).startswith(
            "Deployments here are frozen by Holidays (Nobody is on call) until 2026-12-25 18:00 UTC."
        )
    clock.now = T0 + timedelta(days=1)
    assert deploy(release, octopus, root, engine).state == DeploymentState.WAITING


def test_a_freeze_of_other_projects_does_not_apply(
    release, octopus, goodhealth, root, engine, clock, holidays
):
    holidays.projects.set([goodhealth.project])
    assert deploy(release, octopus, root, engine).state == DeploymentState.WAITING


def test_only_a_superuser_with_a_reason_deploys_through_a_freeze(
    release, octopus, root, sarah, engine, clock, holidays
):
    with pytest.raises(PermissionRefused, match="Only a superuser"):
        deploy(release, octopus, sarah, engine, override_freeze=True, reason="urgent")
    with pytest.raises(InvalidInput) as no_reason:
        deploy(release, octopus, root, engine, override_freeze=True, reason="  ")
    assert no_reason.value.code == "reason_required"
    deployment = deploy(release, octopus, root, engine, override_freeze=True, reason="Security fix")
    assert deployment.state == DeploymentState.WAITING
    assert (
        "OVERRIDE: Root (superuser) deploys through the freeze Holidays (until 2026-12-25T18:00:00Z)."
        " Reason: Security fix"
    ) in log_of(deployment)
    event = AuditEvent.objects.get(action="deployment.freeze_overridden")
    assert event.actor == root and event.changes == {"freezes": ["Holidays"], "reason": "Security fix"}


def test_a_scheduled_deployment_due_inside_a_freeze_waits_until_it_ends(
    release, octopus, root, engine, clock, holidays
):
    clock.now = T0 - timedelta(hours=1)
    deployment = deploy(release, octopus, root, engine, queue_at=T0 + timedelta(hours=2))
    clock.now = T0 + timedelta(hours=2)
    with engine():
        swept = deployments_sweep()
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.QUEUED
    assert swept["scheduled_due"] == 0  # held by the freeze: not sent to be refused again
    clock.now = T0 + timedelta(days=1)
    with engine():
        swept = deployments_sweep()
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.WAITING
    assert swept["scheduled_due"] == 1


def test_a_freeze_ending_before_it_starts_is_refused(octopus, root, clock):
    with pytest.raises(InvalidInput) as refused:
        freeze_create(name="Oops", start=T0, end=T0, environments=[octopus.environments[0]], actor=root)
    assert refused.value.code == "invalid_period"


def test_no_automatic_deployment_into_a_freeze(goodhealth, root, engine, clock):
    integration, testing, _ = goodhealth.environments
    freeze_create(name="Lab move", start=T0, end=T0 + timedelta(hours=1), environments=[testing], actor=root)
    admin_ops = goodhealth.users["admin-ops"]
    with engine():
        release = release_create(project=goodhealth.project, version="4.0.0", actor=root)
        deployment = deployment_create(release=release, environment=integration, actor=root)
    with engine():
        answer(pending(deployment), admin_ops, "proceed", engine)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.SUCCESS
    assert not Deployment.objects.filter(environment=testing).exists()
    assert any(
        line.startswith("Not deployed automatically to Testing: Deployments here are frozen by Lab move")
        for line in log_of(deployment)
    )
