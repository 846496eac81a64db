"""Agent benchmarks on PostgreSQL + Redis: a real web server (gunicorn, gthread), a real
worker and real relman-agent processes.

(a) Job runnable → script started: one-step deployments whose script prints the time it
    starts (``date +%s.%N``); each figure is that time minus the deployment's
    ``queued_at`` (written in the creating transaction), so it covers the commit, the
    advance message, the worker's decision and — on an agent — the dispatch, the wake-up
    of the agent's waiting claim, the claim and the agent starting bash. Jobs alternate
    between a step without roles (the built-in runner on the worker: the reference) and
    one with roles (an idle agent), so both see the same machine.
(b) Steps/s: N deployments × 5 script steps (``true``), one project each, on the built-in
    runner and then on 2 agents of one target; all advances are published at once, and
    the time runs from then to the last deployment's ``finished_at``.
(c) Run helper script → script started: the assignee of a waiting manual step runs its
    helper script (``date +%s.%N``) again and again; each figure is the time it printed
    minus the run's ``queued_at`` (written in the request's transaction), so it covers the
    commit, the message to a worker (built-in runner) or the wake-up of the agent's
    waiting claim, the claim and bash starting. Runs alternate between a step without roles
    and one with roles.

Run by hand (see bench/README.md):

    .venv/bin/python bench/agents.py [--jobs 200] [--deployments 1000]

It drops and recreates the database named by --database-url.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from unittest import mock

from common import recreate_database  # bench/ is on sys.path when a script runs
from engine import ROOT, Workers, bench_user, setup_django, summary, wait_for


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/relman_bench")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--jobs", type=int, default=200, help="jobs per runner in (a)")
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=5, help="script steps per deployment in (b)")
    parser.add_argument("--only", choices=["latency", "helper", "throughput"], help="run one of the three")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count(), help="processes of the worker")
    # setup_django and Workers (bench/engine.py) read these too.
    parser.set_defaults(pool="prefork")
    return parser.parse_args()


class Server:
    """gunicorn serving relman.wsgi, and relman-agent processes against it."""

    def __init__(self, env: dict[str, str]):
        self.env = {**env, "RELMAN_ALLOWED_HOSTS": "127.0.0.1"}
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        self._spawn(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "relman.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                "8",
                "--log-level",
                "warning",
            ],  # fmt: skip
            self.env,
        )
        wait_for(self._answers, timeout=60, every=0.2)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}healthz", timeout=2):
                return True
        except OSError:
            return False

    def agent(self, token: str) -> None:
        env = {"PATH": os.environ["PATH"], "RELMAN_URL": self.url, "RELMAN_AGENT_TOKEN": token}
        self._spawn([sys.executable, "-m", "relman.agent"], env)

    def _spawn(self, command: list[str], env: dict[str, str]) -> None:
        self.processes.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)
        self.processes = []


def _setup(name: str, steps: int, roles: list[str], script: str, count: int = 1):
    """``count`` projects of ``steps`` script steps each, deployable to the Bench environment."""
    from lifecycles.models import Environment, Lifecycle, Phase, PhaseEnvironment
    from processes.models import Project, ProjectGroup, Step

    env = Environment.objects.get_or_create(name="Bench", slug="bench")[0]
    lifecycle = Lifecycle.objects.create(name=f"{name} lifecycle")
    PhaseEnvironment.objects.create(
        phase=Phase.objects.create(lifecycle=lifecycle, name="Only"), environment=env
    )
    projects = []
    for n in range(count):
        project = Project.objects.create(
            name=f"{name} {n}", slug=f"{name.lower()}-{n}", group=ProjectGroup.default(), lifecycle=lifecycle
        )
        Step.objects.bulk_create(
            Step(
                project=project,
                name=f"Step {s}",
                position=s,
                kind="script",
                script=script,
                target_roles=roles,
            )
            for s in range(1, steps + 1)
        )
        projects.append(project)
    return env, projects


def _target(name: str, env, role: str) -> str:
    from targets.services import target_create

    return target_create(name=name, environments=[env], roles=[role], actor=None)[1]


def bench_latency(args, workers: Workers, server: Server) -> None:
    from releases.choices import DeploymentState
    from releases.models import Deployment, TaskLogEntry
    from releases.services import deployment_create, release_create

    root = bench_user()
    env, (builtin,) = _setup("Builtin", 1, [], "date +%s.%N")
    _, (on_agent,) = _setup("Agent", 1, ["latency"], "date +%s.%N")
    server.agent(_target("latency-target", env, "latency"))
    workers.start(1)
    results: dict[str, list[float]] = {"builtin": [], "agent": []}
    for n in range(args.jobs * 2):
        kind, project = ("builtin", builtin) if n % 2 == 0 else ("agent", on_agent)
        release = release_create(project=project, version=f"1.0.{n}", actor=root)
        deployment = deployment_create(release=release, environment=env, actor=root)
        wait_for(
            lambda d=deployment: Deployment.objects.filter(pk=d.pk, state=DeploymentState.SUCCESS).exists(),
            timeout=60,
            every=0.05,
        )
        deployment.refresh_from_db()
        line = TaskLogEntry.objects.filter(deployment=deployment, message__regex=r"[0-9]{10}\.[0-9]+$").get()
        started = datetime.fromtimestamp(float(line.message.rsplit(" ", 1)[-1]), tz=UTC)
        results[kind].append((started - deployment.queued_at).total_seconds() * 1000)
    workers.stop()
    print(f"(a) Job runnable → script started, {args.jobs} jobs each, alternating")
    print(f"    built-in runner (reference): {summary(results['builtin'])}")
    print(f"    idle agent:                  {summary(results['agent'])}")


def bench_helper(args, workers: Workers, server: Server) -> None:
    """(c): a manual step waiting with a helper script, run again and again by its
    assignee, alternating a step without roles and one with roles."""
    from lifecycles.models import Environment
    from processes.models import Project, Step
    from releases.choices import RUN_UNFINISHED
    from releases.models import Interruption, StepRun, TaskLogEntry
    from releases.services import (
        deployment_create,
        interruption_run_helper,
        interruption_take,
        release_create,
    )

    root = bench_user()
    env = Environment.objects.get_or_create(name="Bench", slug="bench")[0]
    waiting = {}
    for kind, roles in (("builtin", []), ("agent", ["helper"])):
        _, (project,) = _setup(f"Helper{kind}", 0, [], "", count=1)
        Step.objects.create(
            project=project, name="Check", position=1, script="date +%s.%N", target_roles=roles
        )
        release = release_create(project=Project.objects.get(pk=project.pk), version="1.0.0", actor=root)
        deployment = deployment_create(release=release, environment=env, actor=root)
        waiting[kind] = deployment
    server.agent(_target("helper-target", env, "helper"))
    workers.start(1)
    interruptions = {}
    for kind, deployment in waiting.items():
        interruptions[kind] = wait_for(
            lambda d=deployment: Interruption.objects.filter(deployment=d, pending=True).first(), timeout=60
        )
        interruption_take(interruption=interruptions[kind], actor=root)
    results: dict[str, list[float]] = {"builtin": [], "agent": []}
    for n in range(args.jobs * 2):
        kind = "builtin" if n % 2 == 0 else "agent"
        interruption = interruptions[kind]
        (run,) = interruption_run_helper(interruption=interruption, actor=root)
        wait_for(
            lambda r=run: not StepRun.objects.filter(pk=r.pk, state__in=RUN_UNFINISHED).exists(),
            timeout=60,
            every=0.02,
        )
        run.refresh_from_db()
        line = (
            TaskLogEntry.objects.filter(step_id=run.step_id, message__regex=r"[0-9]{10}\.[0-9]+$")
            .order_by("-id")
            .first()
        )
        started = datetime.fromtimestamp(float(line.message.rsplit(" ", 1)[-1]), tz=UTC)
        results[kind].append((started - run.queued_at).total_seconds() * 1000)
    workers.stop()
    print(f"(c) Run helper script → script started, {args.jobs} runs each, alternating")
    print(f"    built-in runner: {summary(results['builtin'])}")
    print(f"    idle agent:      {summary(results['agent'])}")


def bench_throughput(args, workers: Workers, server: Server) -> None:
    from django.db.models import Max
    from django.utils import timezone

    from releases.choices import DeploymentState
    from releases.models import Deployment
    from releases.services import deployment_create, release_create
    from releases.tasks import deployment_advance_task
    from relman.queue import publish

    root = bench_user()
    print(f"(b) Script steps: {args.deployments} deployments × {args.steps} steps (`true`)")
    for label, roles in (("built-in runner", []), ("2 agents", ["throughput"])):
        name = "Tb" if not roles else "Ta"
        env, projects = _setup(name, args.steps, roles, "true", count=args.deployments)
        if roles:
            token = _target("throughput-target", env, "throughput")
            server.agent(token)
            server.agent(token)
        releases = [release_create(project=p, version="1.0.0", actor=root) for p in projects]
        with mock.patch("releases.engine.enqueue_advance"):
            ids = [deployment_create(release=r, environment=env, actor=root).pk for r in releases]
        workers.start(1)
        started = timezone.now()
        for pk in ids:
            publish(deployment_advance_task.name, pk)
        wait_for(
            lambda ids=ids: (
                not Deployment.objects.filter(pk__in=ids).exclude(state=DeploymentState.SUCCESS).exists()
            ),
            timeout=3600,
            every=0.5,
        )
        last = Deployment.objects.filter(pk__in=ids).aggregate(last=Max("finished_at"))["last"]
        workers.stop()
        print(
            f"    {label:16} {args.deployments * args.steps / (last - started).total_seconds():7.1f} steps/s"
        )


def main() -> None:
    args = parse_args()
    recreate_database(args.database_url)
    import redis

    redis.Redis.from_url(args.broker_url).flushdb()
    env = setup_django(args)
    workers = Workers(env, args.pool, args.concurrency)
    server = Server(env)
    server.start()
    try:
        if args.only in (None, "latency"):
            bench_latency(args, workers, server)
        if args.only in (None, "helper"):
            bench_helper(args, workers, server)
        if args.only in (None, "throughput"):
            bench_throughput(args, workers, server)
    finally:
        workers.stop()
        server.stop()


if __name__ == "__main__":
    main()
