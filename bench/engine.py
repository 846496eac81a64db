"""Engine benchmarks on PostgreSQL + Redis with real worker processes.

(a) Proceed → next step latency: one deployment of a process of manual steps; each
    intervention is submitted and the time from its submission (``submitted_at``, written
    in the submitting transaction) to the next step's start (``started_at``, written by the
    worker) is recorded. Reference, in the same run: Celery's ping round trip to the same
    worker through Redis (a request and a reply).
(b) Script-step throughput: N deployments × 5 trivial script steps (``true``), with 1 and
    then 2 workers, each with Celery's default concurrency (one process per CPU;
    ``--concurrency`` changes it). Reference, in the same run and setup: the rate at which
    the same workers consume no-op tasks (an advance of a deployment that does not exist:
    one message, one query). Both runs queue all their messages while the workers are
    paused, then time the workers alone.

Run by hand (see bench/README.md):

    .venv/bin/python bench/engine.py [--interventions 200] [--deployments 1000]

It drops and recreates the database named by --database-url.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from common import BENCH_KEYS, recreate_database  # bench/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
# Every message this benchmark sends is a deployment advance, routed to the steps queue
# (relman.settings.CELERY_TASK_ROUTES); its workers consume that queue alone.
STEPS_QUEUE = "steps"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/relman_bench")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--interventions", type=int, default=200)
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=5, help="script steps per deployment in (b)")
    parser.add_argument("--process-steps", type=int, default=8, help="manual steps per deployment in (a)")
    parser.add_argument("--only", choices=["latency", "throughput"], help="run one of the two")
    parser.add_argument("--pool", default="prefork", help="the workers' Celery pool (prefork, threads, solo)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=os.cpu_count(),
        help="processes (or threads) per worker; by default Celery's own: one per CPU",
    )
    return parser.parse_args()


def setup_django(args: argparse.Namespace) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "relman.settings",
        **BENCH_KEYS,
        "RELMAN_HTTPS": "0",
        "RELMAN_DATABASE_URL": args.database_url,
        "RELMAN_BROKER_URL": args.broker_url,
        "RELMAN_LOG_LEVEL": "WARNING",
        # The sweep would only add noise here.
        "RELMAN_SWEEP_INTERVAL_SECONDS": "3600",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return {**os.environ, **env}


class Workers:
    def __init__(self, env: dict[str, str], pool: str, concurrency: int):
        self.env = env
        self.pool = pool
        self.concurrency = concurrency
        self.processes: list[subprocess.Popen] = []

    def start(self, count: int) -> list[str]:
        names = []
        for _ in range(count):
            name = f"bench{len(self.processes)}@%h"
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "relman",
                        "worker",
                        "--queues",
                        STEPS_QUEUE,
                        "--pool",
                        self.pool,
                        "--concurrency",
                        str(self.concurrency),
                        "--loglevel",
                        "WARNING",
                        "--hostname",
                        name,
                        "--without-gossip",
                        "--without-mingle",
                    ],
                    cwd=ROOT,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            names.append(name.replace("%h", os.uname().nodename))
        from relman.celery import app

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            replies = app.control.ping(destination=names, timeout=0.5)
            if len(replies) == len(names):
                return names
        raise SystemExit("workers did not start")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)
        self.processes = []


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> str:
    return (
        f"p50 {percentile(values_ms, 50):6.1f} ms   p95 {percentile(values_ms, 95):6.1f} ms   "
        f"p99 {percentile(values_ms, 99):6.1f} ms   (n={len(values_ms)})"
    )


def bench_latency(args, workers: Workers) -> None:
    from lifecycles.models import Environment, Lifecycle, Phase, PhaseEnvironment
    from processes.models import Project, ProjectGroup, Step
    from releases.models import DeploymentStep, Interruption
    from releases.services import deployment_cancel, deployment_create, interruption_submit, release_create
    from relman.celery import app

    root = bench_user()
    env = Environment.objects.create(name="Bench", slug="bench")
    lifecycle = Lifecycle.objects.create(name="Bench lifecycle")
    PhaseEnvironment.objects.create(
        phase=Phase.objects.create(lifecycle=lifecycle, name="Only"), environment=env
    )
    project = Project.objects.create(
        name="Latency", slug="latency", group=ProjectGroup.default(), lifecycle=lifecycle
    )
    # A checklist the size of the Octopus story's, deployed as many times as it takes.
    Step.objects.bulk_create(
        Step(project=project, name=f"Check {n}", position=n, kind="manual")
        for n in range(1, args.process_steps + 1)
    )
    names = workers.start(1)

    pings = []
    for _ in range(args.interventions):
        started = time.perf_counter()
        app.control.ping(destination=names, timeout=1.0, limit=1)
        pings.append((time.perf_counter() - started) * 1000)

    latencies, submits = [], []
    release = release_create(project=project, version="1.0.0", actor=root)
    while len(latencies) < args.interventions:
        deployment = deployment_create(release=release, environment=env, actor=root)
        for position in range(1, args.process_steps):
            interruption = wait_for(
                lambda d=deployment, p=position: Interruption.objects.filter(
                    deployment=d, step__position=p, pending=True
                ).first()
            )
            before = time.perf_counter()
            interruption_submit(interruption=interruption, actor=root, result="proceed")
            submits.append((time.perf_counter() - before) * 1000)
            interruption.refresh_from_db()
            following = wait_for(
                lambda d=deployment, p=position: DeploymentStep.objects.filter(
                    deployment=d, position=p + 1, started_at__isnull=False
                ).first()
            )
            latencies.append((following.started_at - interruption.submitted_at).total_seconds() * 1000)
        deployment_cancel(deployment=deployment, actor=root)
    workers.stop()

    print(
        f"(a) Proceed → next step started, {len(latencies)} interventions "
        f"({args.process_steps}-step checklist), 1 worker"
    )
    print(f"    engine:                            {summary(latencies)}")
    print(f"    reference, Celery ping (Redis):    {summary(pings)}")
    print(f"    the submit call itself (web side): {summary(submits)}")


def bench_user():
    from teams.models import User

    return User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", password=None
    )


def wait_for(check, timeout: float = 30, every: float = 0.01):
    """Polls ``check`` until it returns something, looking only after ``every`` seconds.
    The figures come from timestamps the engine writes, not from this clock: polling
    gently only keeps this process from taking CPU from the worker and the database, on a
    small machine, in the milliseconds being measured."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(every)
        value = check()
        if value:
            return value
    raise SystemExit("timed out: is a worker running?")


def bench_throughput(args, workers: Workers) -> None:
    from django.db.models import Max
    from django.utils import timezone

    from lifecycles.models import Environment, Lifecycle, Phase, PhaseEnvironment
    from processes.models import Project, ProjectGroup, Step
    from releases.choices import DeploymentState
    from releases.models import Deployment
    from releases.services import deployment_create, release_create
    from releases.tasks import deployment_advance_task
    from relman.queue import publish

    root = bench_user()
    lifecycle = Lifecycle.objects.create(name="Throughput lifecycle")
    phase = Phase.objects.create(lifecycle=lifecycle, name="Only")
    print(f"(b) Script steps: {args.deployments} deployments × {args.steps} steps (`true`)")
    for worker_count in (1, 2):
        env = Environment.objects.create(name=f"Throughput {worker_count}", slug=f"throughput-{worker_count}")
        PhaseEnvironment.objects.create(phase=phase, environment=env)
        projects = []
        # One project per deployment: deployments of one project to one environment queue
        # one at a time, which would measure the queue, not the engine.
        for n in range(args.deployments):
            project = Project.objects.create(
                name=f"T{worker_count}-{n}",
                slug=f"t{worker_count}-{n}",
                group=ProjectGroup.default(),
                lifecycle=lifecycle,
            )
            Step.objects.bulk_create(
                Step(project=project, name=f"Step {s}", position=s, kind="script", script="true")
                for s in range(1, args.steps + 1)
            )
            projects.append(project)
        releases = [release_create(project=p, version="1.0.0", actor=root) for p in projects]

        names = workers.start(worker_count)
        # Both runs queue every message first, then let the workers consume, so that
        # neither figure includes this script publishing on the same two cores.
        noop_count = args.deployments * args.steps
        with paused(names):
            for _ in range(noop_count):
                publish(deployment_advance_task.name, 0)
        started = time.perf_counter()
        drain(args.broker_url)
        noop_rate = noop_count / (time.perf_counter() - started)

        with mock.patch("releases.engine.enqueue_advance"):
            deployments = [deployment_create(release=r, environment=env, actor=root) for r in releases]
        ids = [d.pk for d in deployments]
        with paused(names):
            for pk in ids:
                publish(deployment_advance_task.name, pk)
        started = timezone.now()
        wait_for(
            lambda ids=ids: (
                not Deployment.objects.filter(pk__in=ids).exclude(state=DeploymentState.SUCCESS).exists()
            ),
            timeout=3600,
            every=0.5,
        )
        last = Deployment.objects.filter(pk__in=ids).aggregate(last=Max("finished_at"))["last"]
        elapsed = (last - started).total_seconds()
        workers.stop()
        steps_rate = args.deployments * args.steps / elapsed
        print(
            f"    {worker_count} worker(s): {steps_rate:7.1f} steps/s   "
            f"no-op tasks: {noop_rate:7.1f} tasks/s   ratio {steps_rate / noop_rate:5.0%}"
        )


@contextmanager
def paused(names: list[str]):
    """The workers stop taking messages from the queue for the block, then resume."""
    from relman.celery import app

    app.control.cancel_consumer(STEPS_QUEUE, destination=names, reply=True)
    try:
        yield
    finally:
        app.control.add_consumer(STEPS_QUEUE, destination=names, reply=True)


def drain(broker_url: str) -> None:
    """Waits until the queue is empty and no message is left unacknowledged."""
    import redis

    client = redis.Redis.from_url(broker_url)
    while client.llen(STEPS_QUEUE) or client.hlen("unacked"):
        time.sleep(0.005)


def main() -> None:
    args = parse_args()
    recreate_database(args.database_url)
    import redis

    redis.Redis.from_url(args.broker_url).flushdb()
    env = setup_django(args)
    workers = Workers(env, args.pool, args.concurrency)
    try:
        if args.only != "throughput":
            bench_latency(args, workers)
        if args.only != "latency":
            bench_throughput(args, workers)
    finally:
        workers.stop()


if __name__ == "__main__":
    main()
