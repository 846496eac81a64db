"""Insights benchmark on PostgreSQL: how long do a project's insights and the overview
take over a large history?

Seeds --projects projects (three environments each: Test, Staging, Production; eight
steps: five manual, three scripts), --releases-per-project releases spread over the last
year and as many deployments per release as it takes to reach --deployments, every
deployment running all eight steps and raising an interruption at each manual one (five
per deployment: 200,000 deployments make 1,000,000 interruptions). About one deployment
in ten fails, one in thirty is cancelled. Rows are written with INSERT … SELECT over
generate_series in the database: the shape of the data matters here, not how it came
about.

Then asks, through Django's test client (middleware, authentication, serializer and the
database; no network), --requests times after two warm-up requests each:

- ``GET /api/v1/projects/<slug>/insights/`` (90 days), a different project each time;
- ``GET /api/v1/insights/`` (90 days), the overview across every project;

as a superuser (every project) and as a scoped viewer (a team with a viewer grant on a
fifth of the projects), printing p50/p95 and the number of queries of each.

Run by hand (see bench/README.md):

    .venv/bin/python bench/insights.py [--requests 30] [--reuse]

It drops and recreates the database named by --database-url (--reuse keeps a database
this script seeded before), and drops it at the end unless --keep.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from common import drop_database, recreate_database, setup_django  # bench/ is on sys.path when a script runs

STEPS = [
    ("Backup the database", "manual"),
    ("Build check", "script"),
    ("Upgrade the database", "manual"),
    ("Copy the application", "manual"),
    ("Deploy", "script"),
    ("Add new settings", "manual"),
    ("Smoke test", "script"),
    ("Check the application loads", "manual"),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/relman_bench_insights")
    parser.add_argument("--projects", type=int, default=500)
    parser.add_argument("--releases-per-project", type=int, default=20)
    parser.add_argument("--deployments", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per endpoint and user")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="keep the database if it is seeded already")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    return parser.parse_args()


def seed(args: argparse.Namespace) -> None:
    from django.db import connection, transaction

    from lifecycles.models import Environment, Lifecycle, Phase, PhaseEnvironment
    from processes.models import Project, ProjectGroup, Step

    started = time.perf_counter()
    per_release = -(-args.deployments // (args.projects * args.releases_per_project))
    with transaction.atomic():
        environments = [
            Environment.objects.create(name=name, slug=name.lower(), sort_order=n)
            for n, name in enumerate(["Test", "Staging", "Production"])
        ]
        lifecycle = Lifecycle.objects.create(name="Test to Production")
        for position, environment in enumerate(environments, start=1):
            phase = Phase.objects.create(lifecycle=lifecycle, name=environment.name, position=position)
            PhaseEnvironment.objects.create(phase=phase, environment=environment)
        groups = ProjectGroup.objects.bulk_create(ProjectGroup(name=f"Group {n:02d}") for n in range(1, 26))
        projects = Project.objects.bulk_create(
            Project(
                name=f"Project {n:03d}", slug=f"project-{n:03d}", group=groups[n % 25], lifecycle=lifecycle
            )
            for n in range(1, args.projects + 1)
        )
        Step.objects.bulk_create(
            Step(project=project, name=name, position=position, kind=kind)
            for project in projects
            for position, (name, kind) in enumerate(STEPS, start=1)
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT setseed(%s)", [args.seed / 1000])
            # Releases every ~18 days over the last year, per project.
            cursor.execute(
                """
                INSERT INTO releases_release (project_id, version, notes, created_at, sort_key)
                SELECT p.id, n || '.0.0', '',
                    now() - interval '365 days' + n * interval '18 days' + random() * interval '2 days',
                    lpad(n::text, 10, '0')
                FROM processes_project p CROSS JOIN generate_series(1, %s) n
                """,
                [args.releases_per_project],
            )
            cursor.execute(
                """
                INSERT INTO releases_releasestep (release_id, name, position, kind, enabled, run_condition,
                    instructions, block_deployments, prevent_self_approval, script, timeout_seconds,
                    notify, target_roles, required_approvals, on_timeout)
                SELECT r.id, s.name, s.position, s.kind, true, 'success', '', false, false, '', 600,
                    '[]', '[]', 1, 'abort'
                FROM releases_release r JOIN processes_step s ON s.project_id = r.project_id
                """
            )
            # Deployments two hours apart after their release, through the environments.
            cursor.execute(
                """
                INSERT INTO releases_deployment (release_id, project_id, environment_id, state, guided_failure,
                    created_at, queued_at, started_at, finished_at, updated_at, freeze_override_reason)
                SELECT x.release_id, x.project_id, (%s::int[])[1 + x.k %% 3],
                    CASE WHEN x.roll < 0.1 THEN 'failed' WHEN x.roll < 0.135 THEN 'cancelled' ELSE 'success' END,
                    false, x.t, x.t, x.t, x.t + interval '3 hours', x.t + interval '3 hours', ''
                FROM (
                    SELECT r.id AS release_id, r.project_id, k, random() AS roll,
                        r.created_at + k * interval '2 hours' + random() * interval '1 hour' AS t
                    FROM releases_release r CROSS JOIN generate_series(0, %s - 1) k
                ) x
                ORDER BY x.t
                """,
                [[e.pk for e in environments], per_release],
            )
            cursor.execute(
                """
                INSERT INTO releases_deploymentstep (deployment_id, release_step_id, position, state, skip_reason,
                    started_at, finished_at, attempts)
                SELECT d.id, rs.id, rs.position,
                    CASE WHEN d.state = 'failed' AND rs.position = 8 THEN 'aborted' ELSE 'success' END, '',
                    d.created_at + rs.position * interval '20 minutes',
                    d.created_at + rs.position * interval '20 minutes' + interval '15 minutes', 1
                FROM releases_deployment d JOIN releases_releasestep rs ON rs.release_id = d.release_id
                """
            )
            cursor.execute(
                """
                INSERT INTO releases_interruption (deployment_id, step_id, type, title, instructions,
                    blocks_deployments, prevent_self_approval, created_at, pending, taken_at, result, guidance,
                    notes, submitted_at, reminders_sent, required_approvals)
                SELECT x.deployment_id, x.id, 'manual_intervention', x.name, '', false, false, x.started_at,
                    false, x.started_at + x.wait, 'proceed', '', '', x.started_at + x.wait + x.work, 0, 1
                FROM (
                    SELECT ds.deployment_id, ds.id, rs.name, ds.started_at,
                        random() * interval '90 minutes' AS wait, random() * interval '60 minutes' AS work
                    FROM releases_deploymentstep ds
                    JOIN releases_releasestep rs ON rs.id = ds.release_step_id
                    WHERE rs.kind = 'manual'
                ) x
                """
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        counts = {}
        for table in ("releases_deployment", "releases_deploymentstep", "releases_interruption"):
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
    print(
        f"seeded {args.projects} projects, {counts['releases_deployment']:,} deployments, "
        f"{counts['releases_deploymentstep']:,} deployment steps, {counts['releases_interruption']:,} "
        f"interruptions in {time.perf_counter() - started:.0f} s"
    )


def users():
    from processes.models import ProjectGroup
    from teams.choices import Role
    from teams.models import RoleGrant, Team, User

    root, _ = User.objects.get_or_create(username="bench-root", defaults={"is_superuser": True})
    viewer, created = User.objects.get_or_create(username="bench-viewer")
    if created:
        team = Team.objects.create(name="Bench viewers")
        team.members.add(viewer)
        grant = RoleGrant.objects.create(team=team, role=Role.VIEWER)
        grant.project_groups.set(ProjectGroup.objects.filter(name__startswith="Group")[:5])
    return root, viewer


def measure(client, paths: list[str]) -> tuple[list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for path in paths[:2]:
        assert client.get(path).status_code == 200
    timings, queries = [], 0
    for path in paths:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:300]
        queries = max(queries, len(captured))
    return timings, queries


def report(label: str, timings: list[float], queries: int) -> None:
    p95 = statistics.quantiles(timings, n=20)[-1] if len(timings) > 1 else timings[0]
    print(f"{label:<44} p50 {statistics.median(timings):7.1f} ms   p95 {p95:7.1f} ms   queries {queries}")


def main() -> None:
    args = parse_args()
    reused = recreate_database(args.database_url, reuse=args.reuse)
    setup_django(args.database_url, "insights")
    if not reused:
        seed(args)
    from django.test import Client

    from processes.models import Project

    rng = random.Random(args.seed)
    root, viewer = users()
    print(f"{args.requests} requests each, after two warm-up requests")
    for user in (root, viewer):
        client = Client()
        client.force_login(user)
        slugs = list(Project.objects.visible_to(user).values_list("slug", flat=True))
        project_paths = [f"/api/v1/projects/{rng.choice(slugs)}/insights/" for _ in range(args.requests)]
        report(f"project insights ({user.username})", *measure(client, project_paths))
        report(f"overview ({user.username})", *measure(client, ["/api/v1/insights/"] * args.requests))
    if not args.keep:
        from django.db import connections

        connections.close_all()
        drop_database(args.database_url)


if __name__ == "__main__":
    main()
