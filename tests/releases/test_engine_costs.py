"""What the engine's hot paths cost in queries, kept where the benchmarks in
bench/engine.py measured them (bench/README.md): a query more here is a query more for
every step of every deployment."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from processes.models import Step
from releases.choices import DeploymentState
from releases.engine import deployment_advance
from releases.models import Interruption
from releases.services import deployment_create, interruption_submit, release_create

pytestmark = pytest.mark.django_db


def queued_scripts(demo, root, count: int, version: str):
    """A deployment of ``count`` quiet script steps, queued, its message not yet handled."""
    demo.project.steps.all().delete()
    Step.objects.bulk_create(
        Step(project=demo.project, name=f"Step {n}", position=n, kind="script", script="true")
        for n in range(1, count + 1)
    )
    release = release_create(project=demo.project, version=version, actor=root)
    return deployment_create(release=release, environment=demo.environments[0], actor=root)


def queries(call) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        call()
    return [q["sql"] for q in captured.captured_queries]


def test_a_script_step_costs_six_statements(goodhealth, root):
    """Each step: a savepoint (a transaction of its own in production), lock the deployment,
    record the last step's outcome, claim this one, write the log lines, release. The steps
    are read once, by the first decision; starting and finishing cost a fixed amount more."""
    three = queued_scripts(goodhealth, root, 3, "1.0.0")
    costs_three = queries(lambda: deployment_advance(three.pk))
    eight = queued_scripts(goodhealth, root, 8, "2.0.0")
    costs_eight = queries(lambda: deployment_advance(eight.pk))
    eight.refresh_from_db()
    assert eight.state == DeploymentState.SUCCESS
    assert (len(costs_eight) - len(costs_three)) / 5 <= 6, costs_eight


def test_proceed_and_the_next_intervention_cost_a_bounded_number_of_statements(
    octopus, sarah, olly, root, engine, django_capture_on_commit_callbacks
):
    """Olly proceeds on step 3 (which blocks nothing, so the deployment resumes at once)
    and the worker raises step 4: the path bench/engine.py measures as Proceed → next step.
    Both counts include a savepoint and its release; the submit records its notification
    event (reading the teams it names, then an INSERT), and so does the raise (reading the
    release and environment it names, then an INSERT)."""
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    with engine():
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    for _ in range(2):
        with engine():
            interruption_submit(interruption=pending(deployment), actor=sarah, result="proceed")
    step_3 = pending(deployment)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        # Olly has not taken it: the submit checks he may, assigns it to him and submits.
        submit = queries(lambda: interruption_submit(interruption=step_3, actor=olly, result="proceed"))
    worker = queries(sent[0])
    assert pending(deployment).step.position == 4
    assert len(submit) <= 24, submit
    assert len(worker) <= 12, worker


def pending(deployment) -> Interruption:
    return Interruption.objects.get(deployment=deployment, pending=True)
