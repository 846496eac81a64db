"""relman-cli against a live server: the CLI talks HTTP to pytest-django's ``live_server``
(a real server thread, Celery tasks eager on commit, so a deployment advances inside the
request that starts or answers it).

``cli(user)`` points RELMAN_URL/RELMAN_API_KEY at the server with a new key of ``user``;
``cli.run(...)`` runs ``relman.cli.main`` in this process and returns its exit code,
stdout and stderr.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lifecycles.models import Environment
from lifecycles.services import PhaseEnvironmentSpec, PhaseSpec, environment_create, lifecycle_create
from processes.models import Project
from processes.services import project_create
from relman import cli as relman_cli
from teams.models import User
from teams.services import api_key_create


@dataclass
class Result:
    code: int
    out: str
    err: str


class Cli:
    def __init__(self, url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
        self.url = url
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        self.key = ""

    def __call__(self, user: User) -> Cli:
        """Act as ``user`` from now on, with a key of their own."""
        _, self.key = api_key_create(user=user, purpose="relman-cli tests", actor=None)
        self.monkeypatch.setenv("RELMAN_URL", self.url)
        self.monkeypatch.setenv("RELMAN_API_KEY", self.key)
        return self

    def run(self, *args: str) -> Result:
        self.capsys.readouterr()
        code = relman_cli.main([str(arg) for arg in args])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


@pytest.fixture
def cli(live_server, monkeypatch, capsys) -> Cli:
    monkeypatch.delenv("RELMAN_URL", raising=False)
    monkeypatch.delenv("RELMAN_API_KEY", raising=False)
    return Cli(live_server.url, monkeypatch, capsys)


@dataclass
class Pipeline:
    project: Project
    staging: Environment
    production: Environment


@pytest.fixture
def pipeline(root) -> Pipeline:
    """Project "ci-app" with an empty process: Staging, then Production."""
    staging = environment_create(name="Staging", slug="staging", sort_order=1, actor=root)
    production = environment_create(name="Production", slug="production", sort_order=2, actor=root)
    lifecycle = lifecycle_create(
        name="CI lifecycle",
        phases=[
            PhaseSpec(name="Staging", environments=[PhaseEnvironmentSpec(environment=staging)]),
            PhaseSpec(name="Production", environments=[PhaseEnvironmentSpec(environment=production)]),
        ],
        actor=root,
    )
    project = project_create(name="CI App", slug="ci-app", lifecycle=lifecycle, actor=root)
    return Pipeline(project=project, staging=staging, production=production)
