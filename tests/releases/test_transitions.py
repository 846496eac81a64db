"""The transition tables themselves (releases/choices.py) and the engine's guards on them,
tested directly rather than through a page or the API."""

import pytest

from releases import engine
from releases.choices import (
    ANSWER_STEP_STATES,
    DEPLOYMENT_ACTIVE,
    DEPLOYMENT_TERMINAL,
    DEPLOYMENT_TRANSITIONS,
    INTERRUPTION_ANSWERS,
    STEP_FINISHED,
    STEP_TRANSITIONS,
    DeploymentState,
    Guidance,
    InterruptionResult,
    InterruptionType,
    StepState,
)
from releases.models import Deployment, DeploymentStep, Interruption
from releases.services import deployment_create, interruption_submit, release_create
from relman.exceptions import Conflict, InvalidInput
from teams.models import AuditEvent

# --- the tables -----------------------------------------------------------------------------


def test_every_state_has_a_row_in_its_table():
    assert set(DEPLOYMENT_TRANSITIONS) == set(DeploymentState.values)
    assert set(STEP_TRANSITIONS) == set(StepState.values)


def test_finished_deployments_and_steps_never_move_again():
    assert {s for s, nexts in DEPLOYMENT_TRANSITIONS.items() if not nexts} == DEPLOYMENT_TERMINAL
    assert {s for s, nexts in STEP_TRANSITIONS.items() if not nexts} == STEP_FINISHED
    assert set(DeploymentState.values) == DEPLOYMENT_ACTIVE | DEPLOYMENT_TERMINAL


def test_every_unfinished_deployment_can_be_cancelled():
    for state in DEPLOYMENT_ACTIVE:
        assert DeploymentState.CANCELLED in DEPLOYMENT_TRANSITIONS[state]


def test_each_kind_of_interruption_takes_its_own_answers():
    assert INTERRUPTION_ANSWERS[InterruptionType.MANUAL_INTERVENTION] == {"proceed", "abort"}
    assert INTERRUPTION_ANSWERS[InterruptionType.GUIDED_FAILURE] == {"retry", "ignore", "fail"}
    assert set(ANSWER_STEP_STATES) == set(InterruptionResult.values) | set(Guidance.values)


def test_every_answer_moves_a_waiting_step_along_an_allowed_transition():
    for answer, state in ANSWER_STEP_STATES.items():
        assert state in STEP_TRANSITIONS[StepState.WAITING], answer
    assert ANSWER_STEP_STATES[InterruptionResult.PROCEED] == StepState.SUCCESS
    assert ANSWER_STEP_STATES[InterruptionResult.ABORT] == StepState.ABORTED
    assert ANSWER_STEP_STATES[Guidance.RETRY] == StepState.PENDING


# --- the guards -----------------------------------------------------------------------------


@pytest.fixture
def waiting(octopus, root, engine) -> Deployment:
    with engine():
        release = release_create(project=octopus.project, version="1.0.0", actor=root)
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.WAITING
    return deployment


def test_a_transition_the_table_forbids_is_refused_and_changes_nothing(waiting):
    decision = engine.Decision(waiting)
    with pytest.raises(
        engine.InvalidTransition, match="A deployment that is waiting for a person cannot become success"
    ):
        decision.transition(DeploymentState.SUCCESS)
    assert waiting.state == DeploymentState.WAITING
    decision.write()
    assert Deployment.objects.get(pk=waiting.pk).state == DeploymentState.WAITING


def test_a_step_transition_the_table_forbids_is_refused(waiting):
    step = waiting.steps.get(position=1)
    with pytest.raises(engine.InvalidTransition, match="is waiting and cannot become running"):
        engine.set_step_state(step, StepState.RUNNING)


def test_a_step_changed_since_it_was_read_is_left_alone(waiting):
    """The guard behind "a late outcome changes nothing": the update applies only from the
    state the step was read in."""
    step = waiting.steps.get(position=1)
    DeploymentStep.objects.filter(pk=step.pk).update(state=StepState.SUCCESS)
    assert engine.set_step_state(step, StepState.ABORTED) is False
    assert DeploymentStep.objects.get(pk=step.pk).state == StepState.SUCCESS


def test_cancelling_twice_changes_nothing_the_second_time(waiting, root):
    engine.cancel(engine.lock(waiting.pk), root)
    engine.cancel(engine.lock(waiting.pk), root)
    assert AuditEvent.objects.filter(action="deployment.cancelled").count() == 1
    assert Interruption.objects.get(deployment=waiting).pending is False


def test_a_finished_deployment_cannot_be_cancelled(waiting, root):
    Deployment.objects.filter(pk=waiting.pk).update(state=DeploymentState.SUCCESS)
    with pytest.raises(
        Conflict, match="already finished \\(success\\); there is nothing to cancel"
    ) as refused:
        engine.cancel(engine.lock(waiting.pk), root)
    assert refused.value.code == "already_finished"


@pytest.mark.parametrize(
    ("result", "guidance"),
    [("", "retry"), ("proceed", "retry"), ("maybe", ""), ("", "")],
)
def test_a_manual_intervention_takes_only_proceed_or_abort(waiting, result, guidance):
    interruption = Interruption.objects.get(deployment=waiting)
    with pytest.raises(InvalidInput, match='answered with result "proceed" or "abort"'):
        engine.check_answer(interruption, result=result, guidance=guidance)


@pytest.mark.parametrize(("result", "guidance"), [("proceed", ""), ("abort", "fail"), ("", "skip")])
def test_a_guided_failure_takes_only_retry_ignore_or_fail(waiting, result, guidance):
    interruption = Interruption.objects.get(deployment=waiting)
    interruption.type = InterruptionType.GUIDED_FAILURE
    with pytest.raises(InvalidInput, match='answered with guidance "retry", "ignore" or "fail"'):
        engine.check_answer(interruption, result=result, guidance=guidance)


def test_an_answered_interruption_is_closed_to_further_answers(waiting, sarah, root):
    interruption = Interruption.objects.get(deployment=waiting)
    interruption_submit(interruption=interruption, actor=sarah, result="proceed")
    interruption.refresh_from_db()
    with pytest.raises(Conflict, match="was already submitted by Sarah at ") as refused:
        engine.check_open(interruption)
    assert refused.value.code == "already_submitted"
