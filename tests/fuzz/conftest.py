"""The world the fuzzers explore: a live server with both demo scenarios, and deployments
in every shape a response can take — one waiting for a person after an answered step,
one the lifecycle started by itself (no creator), one failed and one waiting on a guided
failure — plus a superuser's API key."""

from dataclasses import dataclass

import pytest

from lifecycles.services import PhaseEnvironmentSpec, PhaseSpec, environment_create, lifecycle_create
from processes.choices import StepKind
from processes.services import StepSpec, process_replace, project_create
from releases.models import Interruption
from releases.services import deployment_create, interruption_submit, release_create
from relman import demo
from teams.services import api_key_create


@dataclass
class World:
    url: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def _answer(deployment, *, actor, **answer) -> None:
    interruption = Interruption.objects.get(deployment=deployment, pending=True)
    interruption_submit(interruption=interruption, notes="Done.", actor=actor, **answer)


@pytest.fixture
def world(live_server, shipped_templates) -> World:
    octopus = demo.octopus_demo(password=None)
    goodhealth = demo.goodhealth_demo(password=None)
    admin = demo.demo_admin(password=None)
    sarah = octopus.users["sarah"]

    release = release_create(project=octopus.project, version="1.0.0", notes="First.", actor=admin)
    checklist = deployment_create(release=release, environment=octopus.environments[0], actor=sarah)
    _answer(checklist, actor=sarah, result="proceed")

    pipeline = release_create(project=goodhealth.project, version="2.0.0", actor=admin)
    integration = deployment_create(release=pipeline, environment=goodhealth.environments[0], actor=admin)
    _answer(
        integration, actor=goodhealth.users["admin-ops"], result="proceed"
    )  # Testing then deploys by itself

    sandbox = environment_create(name="Sandbox", actor=admin)
    lifecycle = lifecycle_create(
        name="Sandbox only",
        phases=[PhaseSpec(name="Sandbox", environments=[PhaseEnvironmentSpec(environment=sandbox)])],
        actor=admin,
    )
    flaky = project_create(name="Flaky", lifecycle=lifecycle, actor=admin)
    process_replace(
        project=flaky,
        steps=[StepSpec(name="Migrate", kind=StepKind.SCRIPT, script="echo 'lock timeout' >&2; exit 1")],
        actor=admin,
    )
    first = release_create(project=flaky, version="0.1.0", actor=admin)
    deployment_create(release=first, environment=sandbox, actor=admin)
    second = release_create(project=flaky, version="0.2.0", actor=admin)
    deployment_create(release=second, environment=sandbox, guided_failure=True, actor=admin)

    _, key = api_key_create(user=admin, purpose="schemathesis", actor=None)
    return World(url=live_server.url, key=key)
