"""Every figure of a project's insights against the history of conftest.py, computed by
hand there."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from insights.selectors import overview, project_insights
from processes.models import Step
from releases.choices import DeploymentState, StepState
from relman.demo import PastStep, past_deployment, past_release

from .conftest import BACKUP, DAYS, NOW, UPGRADE, at, person

pytestmark = pytest.mark.django_db


def figures(insights, name):
    return next(s for s in insights.steps if s.name == name)


def test_step_figures_take_medians_of_odd_and_even_counts(history, root):
    insights = project_insights(root, history.project, days=DAYS, now=NOW)

    backup, upgrade = figures(insights, BACKUP), figures(insights, UPGRADE)
    assert (backup.runs, backup.median_wait_seconds, backup.median_work_seconds) == (4, 120, 90)
    assert (backup.aborts, backup.failures, backup.human_seconds) == (0, 0, 1200)
    assert (upgrade.runs, upgrade.median_wait_seconds, upgrade.median_work_seconds) == (2, 200, 15)
    assert (upgrade.aborts, upgrade.failures, upgrade.human_seconds) == (1, 0, 430)
    assert backup.automation_level == upgrade.automation_level == 1


def test_steps_that_never_ran_are_listed_without_medians(history, root):
    insights = project_insights(root, history.project, days=DAYS, now=NOW)

    check = figures(insights, "Check the application loads as expected")
    assert (check.runs, check.median_wait_seconds, check.median_work_seconds, check.human_seconds) == (
        0,
        None,
        None,
        0,
    )
    assert [s.name for s in insights.steps] == list(
        Step.objects.filter(project=history.project).values_list("name", flat=True)
    )


def test_automate_next_ranks_manual_steps_by_human_time_with_a_reason(history, root):
    insights = project_insights(root, history.project, days=DAYS, now=NOW)

    assert [(c.step, c.human_seconds) for c in insights.automate_next] == [(BACKUP, 1200), (UPGRADE, 430)]
    assert insights.automate_next[0].reason == (
        "Backup the database: 20 min 0 s of waiting and work over 4 deployments"
    )


def test_dora_per_environment(history, root):
    insights = project_insights(root, history.project, days=DAYS, now=NOW)

    test, live = insights.dora
    assert test.environment == history.test
    assert (test.deployments, test.frequency_per_week) == (8, 2.0)
    assert test.lead_time_median_seconds == 55_800
    assert test.change_failure_rate == 0.4286
    assert test.time_to_restore_median_seconds == 7200
    assert live.environment == history.live
    assert (live.deployments, live.frequency_per_week) == (0, 0.0)
    assert (live.lead_time_median_seconds, live.change_failure_rate, live.time_to_restore_median_seconds) == (
        None,
        None,
        None,
    )


def test_the_window_counts_its_first_instant_and_nothing_before(history, root):
    """D0, one second before the window, ran Backup for 10,000 s of people-time: had it
    counted, backup's runs and human time would show it."""
    insights = project_insights(root, history.project, days=DAYS, now=NOW)
    assert figures(insights, BACKUP).runs == 4
    assert insights.dora[0].deployments == 8

    wider = project_insights(root, history.project, days=DAYS, now=NOW + timedelta(seconds=-1))
    assert figures(wider, BACKUP).runs == 5
    assert figures(wider, BACKUP).human_seconds == 11_200


def test_weekly_figures_of_the_charts(history, root):
    test = project_insights(root, history.project, days=DAYS, now=NOW).dora[0]

    assert [w.deployments for w in test.weeks] == [4, 3, 1, 0]
    # Weeks start at 12:00 on 2, 9, 16 and 23 June.
    # Week 1: D1 93,600 and D4 18,000; week 2: D7 2,700; week 3: D8 864,900.
    assert [w.lead_time_median_seconds for w in test.weeks] == [55_800, 2700, 864_900, None]


def test_one_environment_only(history, root):
    insights = project_insights(root, history.project, days=DAYS, now=NOW, environment=history.live)

    assert [f.environment for f in insights.dora] == [history.live]
    assert figures(insights, BACKUP).runs == 0
    assert insights.automate_next == []


def test_a_renamed_step_counts_under_the_name_each_release_ran_it(history, root, octopus):
    """Upgrade the database is renamed before 0.4.0: its earlier runs stay under the old
    name, which is no longer in the process and so is not proposed for automation."""
    Step.objects.filter(project=history.project, name=UPGRADE).update(name="Migrate the database")
    renamed = past_release(history.project, "0.4.0", at(21, 9))
    past_deployment(
        release=renamed,
        environment=history.test,
        state=DeploymentState.SUCCESS,
        created_at=at(21, 10),
        finished_at=at(21, 11),
        steps={"Migrate the database": person(at(21, 10), 40, 10)},
        person=octopus.users["sarah"],
    )

    insights = project_insights(root, history.project, days=DAYS, now=NOW)

    migrate, upgrade = figures(insights, "Migrate the database"), figures(insights, UPGRADE)
    assert (migrate.runs, migrate.human_seconds, migrate.automation_level) == (1, 50, 1)
    assert (upgrade.runs, upgrade.human_seconds, upgrade.automation_level) == (2, 430, 1)
    assert insights.steps[-1] == upgrade
    assert [c.step for c in insights.automate_next] == [BACKUP, "Migrate the database"]


def test_script_steps_are_level_three_count_failures_and_are_never_proposed(goodhealth, root):
    integration = goodhealth.environments[0]
    release = past_release(goodhealth.project, "0.1.0", at(1, 9))
    past_deployment(
        release=release,
        environment=integration,
        state=DeploymentState.FAILED,
        created_at=at(5, 10),
        finished_at=at(5, 11),
        steps={
            "Build check": PastStep(StepState.SUCCESS),
            "Migrate Data": person(at(5, 10), 300, 600),
            "Deploy": person(at(5, 10, 30), 60, 60, StepState.FAILED),
        },
        person=goodhealth.users["admin-ops"],
    )

    insights = project_insights(root, goodhealth.project, days=DAYS, now=NOW)

    levels = {s.name: (s.automation_level, s.runs, s.failures, s.human_seconds) for s in insights.steps}
    assert levels == {"Build check": (3, 1, 0, 0), "Migrate Data": (2, 1, 0, 900), "Deploy": (3, 1, 1, 120)}
    assert [c.step for c in insights.automate_next] == ["Migrate Data"]


def test_the_overview_ranks_manual_steps_across_projects(history, goodhealth, root):
    release = past_release(goodhealth.project, "0.1.0", at(1, 9))
    past_deployment(
        release=release,
        environment=goodhealth.environments[0],
        state=DeploymentState.SUCCESS,
        created_at=at(5, 10),
        finished_at=at(5, 11),
        steps={"Migrate Data": person(at(5, 10), 300, 600)},
        person=goodhealth.users["admin-ops"],
    )

    ranked = [(c.project.slug, c.step, c.human_seconds, c.runs) for c in overview(root, days=DAYS, now=NOW)]

    assert ranked == [
        ("manual-deployment", BACKUP, 1200, 4),
        ("goodhealth", "Migrate Data", 900, 1),
        ("manual-deployment", UPGRADE, 430, 2),
    ]


def test_queries_do_not_grow_with_history(history, root, octopus):
    def count(call) -> int:
        with CaptureQueriesContext(connection) as queries:
            call()
        return len(queries)

    project_queries = count(lambda: project_insights(root, history.project, days=DAYS, now=NOW))
    overview_queries = count(lambda: overview(root, days=DAYS, now=NOW))
    release = past_release(history.project, "0.9.0", at(22, 9))
    for hour in range(10, 20):
        past_deployment(
            release=release,
            environment=history.live,
            state=DeploymentState.SUCCESS,
            created_at=at(22, hour),
            finished_at=at(22, hour, 30),
            steps={BACKUP: person(at(22, hour), 60, 60)},
            person=octopus.users["sarah"],
        )

    assert count(lambda: project_insights(root, history.project, days=DAYS, now=NOW)) == project_queries
    assert count(lambda: overview(root, days=DAYS, now=NOW)) == overview_queries
    # The lifecycle's environments (3), the process (1), steps, DORA and weekly figures (3).
    assert project_queries <= 7
    assert overview_queries <= 3
