"""The lifecycle progression rules (SPEC §1.2) and the checks on a lifecycle's phases,
tested as functions: what a release may be deployed to, the sentence that says why not,
and where it goes by itself."""

import pytest

from lifecycles.choices import PhaseRule
from lifecycles.models import Environment, Lifecycle, Phase, PhaseEnvironment
from lifecycles.progression import (
    EnvironmentProgress,
    PhaseProgress,
    automatic_targets,
    deploy_refusal,
    evaluate,
    lifecycle_phases,
    phase_complete,
)
from lifecycles.services import PhaseEnvironmentSpec, PhaseSpec, lifecycle_phase_errors

SUBJECT = "Release 1.0.0 of Shop"


def phase(
    name: str,
    *environments: Environment,
    rule: str = PhaseRule.ALL,
    minimum: int | None = None,
    automatic: tuple[Environment, ...] = (),
) -> PhaseSpec:
    """A phase of these environments; those in ``automatic`` are deployed automatically."""
    return PhaseSpec(
        name=name,
        environments=[PhaseEnvironmentSpec(environment=e, automatic=e in automatic) for e in environments],
        rule=rule,
        minimum=minimum,
    )


def ids(*environments: Environment) -> set[int]:
    return {e.pk for e in environments}


def progress_of(
    phases: list[Phase], *, succeeded: tuple[Environment, ...] = (), reached: tuple[Environment, ...] = ()
) -> list[PhaseProgress]:
    """``evaluate`` for a release that succeeded in ``succeeded`` and was also deployed
    (without success, so far) to ``reached``."""
    return evaluate(
        phases=phases,
        succeeded_ids=ids(*succeeded),
        reached_ids=ids(*succeeded, *reached),
        subject=SUBJECT,
    )


def at(progress: list[PhaseProgress], environment: Environment) -> EnvironmentProgress:
    [found] = [e for p in progress for e in p.environments if e.environment.pk == environment.pk]
    return found


# --- phase_complete (rule 2) -------------------------------------------------------------


def test_all_phase_completes_only_when_every_environment_succeeded(envs, lifecycle_with):
    [test] = lifecycle_with(phase("Test", envs.t1, envs.t2))
    assert not phase_complete(test, set())
    assert not phase_complete(test, ids(envs.t1))
    assert not phase_complete(test, ids(envs.t1, envs.dev, envs.live)), (
        "environments of other phases do not count"
    )
    assert phase_complete(test, ids(envs.t1, envs.t2))


def test_minimum_phase_completes_when_n_environments_succeeded(envs, lifecycle_with):
    [test] = lifecycle_with(phase("Test", envs.t1, envs.t2, envs.t3, rule=PhaseRule.MINIMUM, minimum=2))
    assert not phase_complete(test, set())
    assert not phase_complete(test, ids(envs.t3))
    assert not phase_complete(test, ids(envs.t3, envs.dev)), "environments of other phases do not count"
    assert phase_complete(test, ids(envs.t1, envs.t3))
    assert phase_complete(test, ids(envs.t1, envs.t2, envs.t3))


def test_minimum_larger_than_the_phase_completes_when_every_environment_succeeded(envs):
    # The services refuse such a phase (see the lifecycle_phase_errors tests below), so it
    # is made as rows, as a lifecycle edited directly in the database would have it.
    lifecycle = Lifecycle.objects.create(name="Shop Lifecycle")
    test = Phase.objects.create(lifecycle=lifecycle, name="Test", rule=PhaseRule.MINIMUM, minimum=5)
    PhaseEnvironment.objects.create(phase=test, environment=envs.t1)
    PhaseEnvironment.objects.create(phase=test, environment=envs.t2)
    [test] = lifecycle_phases(lifecycle.pk)
    assert not phase_complete(test, ids(envs.t1))
    assert phase_complete(test, ids(envs.t1, envs.t2))


def test_optional_phase_is_complete_with_nothing_deployed(envs, lifecycle_with):
    [test] = lifecycle_with(phase("Test", envs.t1, envs.t2, rule=PhaseRule.OPTIONAL))
    assert phase_complete(test, set())


# --- evaluate (rules 3 and 6) ------------------------------------------------------------


def test_first_phase_is_open_before_anything_is_deployed(envs, lifecycle_with):
    progress = progress_of(lifecycle_with(phase("Test", envs.t1, envs.t2), phase("Live", envs.live)))
    assert at(progress, envs.t1).can_deploy
    assert at(progress, envs.t2).can_deploy
    assert at(progress, envs.t1).reason == ""


def test_incomplete_all_phase_blocks_the_next_naming_its_environments(envs, lifecycle_with):
    progress = progress_of(lifecycle_with(phase("Test", envs.t1, envs.t2), phase("Live", envs.live)))
    live = at(progress, envs.live)
    assert not live.can_deploy
    assert live.reason == "Release 1.0.0 of Shop must first be deployed to Test 1 and Test 2 (phase Test)."


def test_blocking_sentence_names_only_the_environments_still_missing(envs, lifecycle_with):
    phases = lifecycle_with(phase("Test", envs.t1, envs.t2, envs.t3), phase("Live", envs.live))
    assert at(progress_of(phases), envs.live).reason == (
        "Release 1.0.0 of Shop must first be deployed to Test 1, Test 2 and Test 3 (phase Test)."
    )
    assert at(progress_of(phases, succeeded=(envs.t2,)), envs.live).reason == (
        "Release 1.0.0 of Shop must first be deployed to Test 1 and Test 3 (phase Test)."
    )
    # Reached is not enough: a deployment that has not succeeded leaves the phase missing it.
    assert at(progress_of(phases, succeeded=(envs.t1, envs.t2), reached=(envs.t3,)), envs.live).reason == (
        "Release 1.0.0 of Shop must first be deployed to Test 3 (phase Test)."
    )


def test_incomplete_minimum_phase_says_how_many_more_of_which(envs, lifecycle_with):
    phases = lifecycle_with(
        phase("Test", envs.t1, envs.t2, envs.t3, rule=PhaseRule.MINIMUM, minimum=2), phase("Live", envs.live)
    )
    assert at(progress_of(phases), envs.live).reason == (
        "Release 1.0.0 of Shop must first be deployed to 2 more of Test 1, Test 2 or Test 3 (phase Test)."
    )
    assert at(progress_of(phases, succeeded=(envs.t1,)), envs.live).reason == (
        "Release 1.0.0 of Shop must first be deployed to 1 more of Test 2 or Test 3 (phase Test)."
    )
    assert at(progress_of(phases, succeeded=(envs.t1, envs.t3)), envs.live).can_deploy


def test_first_incomplete_phase_blocks_every_later_environment(envs, lifecycle_with):
    phases = lifecycle_with(phase("Dev", envs.dev), phase("Test", envs.t1), phase("Live", envs.live))
    blocked = "Release 1.0.0 of Shop must first be deployed to Dev (phase Dev)."
    progress = progress_of(phases)
    assert [p.complete for p in progress] == [False, False, False]
    assert (at(progress, envs.t1).can_deploy, at(progress, envs.t1).reason) == (False, blocked)
    assert (at(progress, envs.live).can_deploy, at(progress, envs.live).reason) == (False, blocked)
    # Test succeeded (under an earlier lifecycle, say): Dev, the first incomplete phase, still blocks Live.
    progress = progress_of(phases, succeeded=(envs.t1,))
    assert [p.complete for p in progress] == [False, True, False]
    assert (at(progress, envs.live).can_deploy, at(progress, envs.live).reason) == (False, blocked)


def test_completed_phase_opens_the_next_and_the_one_after_waits_for_it(envs, lifecycle_with):
    phases = lifecycle_with(phase("Dev", envs.dev), phase("Test", envs.t1), phase("Live", envs.live))
    progress = progress_of(phases, succeeded=(envs.dev,))
    assert at(progress, envs.t1).can_deploy
    assert (
        at(progress, envs.live).reason
        == "Release 1.0.0 of Shop must first be deployed to Test 1 (phase Test)."
    )
    assert at(progress_of(phases, succeeded=(envs.dev, envs.t1)), envs.live).can_deploy


def test_environment_already_reached_stays_deployable_for_a_redeploy(envs, lifecycle_with):
    # Live was reached (its deployment failed) and Dev has no success, as after the
    # lifecycle gained a Dev phase: Live may be redeployed, Test may not.
    phases = lifecycle_with(phase("Dev", envs.dev), phase("Test", envs.t1), phase("Live", envs.live))
    progress = progress_of(phases, reached=(envs.live,))
    live = at(progress, envs.live)
    assert (live.can_deploy, live.reason, live.reached, live.succeeded) == (True, "", True, False)
    assert not at(progress, envs.t1).can_deploy


def test_optional_first_phase_never_blocks(envs, lifecycle_with):
    phases = lifecycle_with(phase("Dev", envs.dev, rule=PhaseRule.OPTIONAL), phase("Live", envs.live))
    assert at(progress_of(phases), envs.live).can_deploy


def test_optional_phase_between_others_never_blocks(envs, lifecycle_with):
    phases = lifecycle_with(
        phase("Dev", envs.dev), phase("Test", envs.t1, rule=PhaseRule.OPTIONAL), phase("Live", envs.live)
    )
    progress = progress_of(phases, succeeded=(envs.dev,))
    assert at(progress, envs.t1).can_deploy
    assert at(progress, envs.live).can_deploy


def test_progress_lists_every_phase_with_what_is_missing(envs, lifecycle_with):
    phases = lifecycle_with(phase("Test", envs.t1, envs.t2, automatic=(envs.t2,)), phase("Live", envs.live))
    progress = progress_of(phases, succeeded=(envs.t1,))
    assert [p.phase.name for p in progress] == ["Test", "Live"]
    assert [p.complete for p in progress] == [False, False]
    assert progress[0].missing == [envs.t2]
    assert [(e.environment, e.automatic, e.succeeded) for e in progress[0].environments] == [
        (envs.t1, False, True),
        (envs.t2, True, False),
    ]


# --- deploy_refusal (rules 1, 3, 6) ------------------------------------------------------


def test_deploy_refusal_for_an_environment_outside_the_lifecycle_names_the_lifecycle(envs, lifecycle_with):
    phases = lifecycle_with(phase("Test", envs.t1), phase("Live", envs.live))
    progress, lifecycle = progress_of(phases), phases[0].lifecycle
    assert deploy_refusal(
        progress=progress, environment=envs.sandbox, lifecycle=lifecycle, subject=SUBJECT
    ) == (
        "Sandbox is not part of the lifecycle Shop Lifecycle, so Release 1.0.0 of Shop cannot be deployed there."
    )


def test_deploy_refusal_gives_the_blocking_sentence_and_none_where_open(envs, lifecycle_with):
    phases = lifecycle_with(phase("Test", envs.t1), phase("Live", envs.live))
    progress, lifecycle = progress_of(phases), phases[0].lifecycle
    assert deploy_refusal(progress=progress, environment=envs.live, lifecycle=lifecycle, subject=SUBJECT) == (
        "Release 1.0.0 of Shop must first be deployed to Test 1 (phase Test)."
    )
    assert (
        deploy_refusal(progress=progress, environment=envs.t1, lifecycle=lifecycle, subject=SUBJECT) is None
    )


# --- automatic_targets (rule 4) ----------------------------------------------------------


def test_automatic_targets_are_automatic_open_environments_not_yet_reached(envs, lifecycle_with):
    phases = lifecycle_with(
        phase("Dev", envs.dev, automatic=(envs.dev,)),
        phase("Test", envs.t1, envs.t2, automatic=(envs.t1,)),
        phase("Live", envs.live, automatic=(envs.live,)),
    )
    assert automatic_targets(progress_of(phases)) == [envs.dev]
    assert automatic_targets(progress_of(phases, reached=(envs.dev,))) == [], "Dev is reached, Test not open"
    # Dev done: Test 1 (automatic) but not Test 2 (manual), nor Live (Test is not complete).
    assert automatic_targets(progress_of(phases, succeeded=(envs.dev,))) == [envs.t1]
    assert automatic_targets(progress_of(phases, succeeded=(envs.dev, envs.t1))) == []
    assert automatic_targets(progress_of(phases, succeeded=(envs.dev, envs.t1, envs.t2))) == [envs.live]


def test_automatic_targets_reach_through_optional_phases_to_the_next_required_one(envs, lifecycle_with):
    phases = lifecycle_with(
        phase("Dev", envs.dev),
        phase("Try", envs.t1, rule=PhaseRule.OPTIONAL, automatic=(envs.t1,)),
        phase("Test", envs.t2, automatic=(envs.t2,)),
        phase("Live", envs.live, automatic=(envs.live,)),
    )
    assert automatic_targets(progress_of(phases)) == []
    assert automatic_targets(progress_of(phases, succeeded=(envs.dev,))) == [envs.t1, envs.t2]


# --- lifecycle_phase_errors --------------------------------------------------------------


def test_valid_phases_have_no_errors(envs):
    assert (
        lifecycle_phase_errors(
            [
                phase("Test", envs.t1, envs.t2, rule=PhaseRule.MINIMUM, minimum=2),
                phase("Try", envs.t3, rule=PhaseRule.OPTIONAL),
                phase("Live", envs.live, automatic=(envs.live,)),
            ]
        )
        == {}
    )


def test_phase_names_are_unique_ignoring_case_and_spaces(envs):
    errors = lifecycle_phase_errors(
        [phase("Test", envs.t1), phase(" test ", envs.t2), phase("Live", envs.live)]
    )
    assert errors == {1: {"name": ["Another phase is already named test."]}}


def test_phase_needs_a_name(envs):
    assert lifecycle_phase_errors([phase("  ", envs.t1)]) == {0: {"name": ["A phase needs a name."]}}


def test_environment_in_two_phases_is_refused_where_it_comes_again(envs):
    errors = lifecycle_phase_errors([phase("Test", envs.t1, envs.t2), phase("Live", envs.live, envs.t2)])
    assert errors == {
        1: {
            "environments": [
                "Test 2 is already in phase Test; an environment belongs to at most one phase of a lifecycle."
            ]
        }
    }


def test_minimum_rule_needs_a_minimum(envs):
    assert lifecycle_phase_errors([phase("Test", envs.t1, rule=PhaseRule.MINIMUM)]) == {
        0: {"minimum": ["The minimum rule needs a minimum number of environments."]}
    }


@pytest.mark.parametrize("minimum", [1, 2])
def test_minimum_between_one_and_the_number_of_environments_is_accepted(envs, minimum):
    assert (
        lifecycle_phase_errors([phase("Test", envs.t1, envs.t2, rule=PhaseRule.MINIMUM, minimum=minimum)])
        == {}
    )


@pytest.mark.parametrize(
    ("environments", "minimum", "message"),
    [
        (2, 0, "The minimum must be between 1 and the phase's 2 environments; got 0."),
        (2, 3, "The minimum must be between 1 and the phase's 2 environments; got 3."),
        (1, 2, "The minimum must be between 1 and the phase's 1 environment; got 2."),
    ],
)
def test_minimum_outside_one_and_the_number_of_environments_is_refused(envs, environments, minimum, message):
    spec = phase("Test", *[envs.t1, envs.t2][:environments], rule=PhaseRule.MINIMUM, minimum=minimum)
    assert lifecycle_phase_errors([spec]) == {0: {"minimum": [message]}}


@pytest.mark.parametrize("rule", [PhaseRule.ALL, PhaseRule.OPTIONAL])
def test_minimum_with_another_rule_is_refused(envs, rule):
    assert lifecycle_phase_errors([phase("Test", envs.t1, envs.t2, rule=rule, minimum=1)]) == {
        0: {"minimum": [f"A minimum applies only to the minimum rule, not {rule}."]}
    }


def test_unknown_rule_is_refused(envs):
    assert lifecycle_phase_errors([phase("Test", envs.t1, rule="most")]) == {
        0: {"rule": ["Unknown rule 'most'; choose one of all, minimum, optional."]}
    }


def test_every_wrong_phase_is_reported_by_its_index(envs):
    errors = lifecycle_phase_errors(
        [
            phase("Test", envs.t1),
            phase("Test", envs.t1, rule=PhaseRule.MINIMUM, minimum=2),
            phase("Live", envs.live),
        ]
    )
    assert set(errors) == {1}
    assert set(errors[1]) == {"name", "environments", "minimum"}


def test_minimum_larger_than_the_phase_asks_for_no_more_than_its_environments(envs):
    """Only a hand-edited database holds such a phase (the services refuse it); the
    sentence must still ask for what phase_complete counts, not for the raw minimum."""
    lifecycle = Lifecycle.objects.create(name="Shop Lifecycle")
    test = Phase.objects.create(
        lifecycle=lifecycle, name="Test", position=1, rule=PhaseRule.MINIMUM, minimum=5
    )
    PhaseEnvironment.objects.create(phase=test, environment=envs.t1)
    PhaseEnvironment.objects.create(phase=test, environment=envs.t2)
    live = Phase.objects.create(lifecycle=lifecycle, name="Live", position=2)
    PhaseEnvironment.objects.create(phase=live, environment=envs.live)
    progress = evaluate(
        phases=lifecycle_phases(lifecycle.pk),
        succeeded_ids={envs.t1.pk},
        reached_ids={envs.t1.pk},
        subject="Release 1.0.0 of Shop",
    )
    assert progress[1].environments[0].reason == (
        "Release 1.0.0 of Shop must first be deployed to 1 more of Test 2 (phase Test)."
    )
