"""Dashboard benchmark on PostgreSQL: how long does ``/`` take with a lot of data?

Seeds --projects projects (in --groups project groups) × --environments environments, with
a few lifecycles that reach all or part of the environments, --releases releases per
project and --deployments deployments spread over the cells the lifecycles reach, oldest
first: most are finished (success, some failed or cancelled), and the latest of a cell is
any state (success, failed, cancelled, executing, queued, waiting for a person). Rows are
inserted with bulk_create: the shape of the data matters here, not how it came about.

Then renders the dashboard with Django's test client (the whole middleware stack, templates
and the database; no network) --renders times, after two warm-up requests, for:

- a superuser, who sees every project;
- a scoped user: member of a team with a viewer grant on --scoped-groups project groups;

each as the full page and as the live update the page polls for every two seconds (the
grid alone, ``HX-Request``), and prints p50/p95 render time and the number of queries. It
also prints the time of the latest-deployment-per-cell query, its EXPLAIN ANALYZE, and the
time of the correlated-subquery form it replaced.

Last, the superuser's page left open while nothing changes: the page is loaded, polled
once, then polled 30 times (a minute at one poll every two seconds) the way htmx does it,
asking for the URL in the grid's ``hx-get`` and taking the next one from each fragment
that replaces the region. It prints the bytes of response bodies in that minute and the
time and queries of a poll.

Run by hand (see bench/README.md):

    .venv/bin/python bench/dashboard.py [--renders 20] [--reuse]

It drops and recreates the database named by --database-url (--reuse keeps a database
this script seeded before).
"""

from __future__ import annotations

import argparse
import html
import os
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import BENCH_KEYS, recreate_database  # bench/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]

ENVIRONMENT_KINDS = ["Development", "Integration", "Test", "Staging", "Production"]
REGIONS = ["EU", "US", "APAC", "LATAM"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/relman_bench_dashboard")
    parser.add_argument("--projects", type=int, default=500)
    parser.add_argument("--groups", type=int, default=25)
    parser.add_argument("--environments", type=int, default=20)
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--releases", type=int, default=20, help="releases per project")
    parser.add_argument("--scoped-groups", type=int, default=5, help="project groups the scoped user sees")
    parser.add_argument("--renders", type=int, default=20, help="timed requests per user and kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="keep the database if it is seeded already")
    return parser.parse_args()


def setup_django(args: argparse.Namespace) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "relman.settings",
            **BENCH_KEYS,
            "RELMAN_HTTPS": "0",
            "RELMAN_DATABASE_URL": args.database_url,
            "RELMAN_ALLOWED_HOSTS": "testserver",
            "RELMAN_LOG_LEVEL": "WARNING",
            "RELMAN_VAR_DIR": tempfile.mkdtemp(prefix="relman-bench-dashboard-"),
        }
    )
    Path(os.environ["RELMAN_VAR_DIR"], "static").mkdir()
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(args: argparse.Namespace) -> None:
    from django.db import transaction

    from lifecycles.models import Environment, Lifecycle, Phase, PhaseEnvironment
    from processes.models import Project, ProjectGroup
    from releases.choices import DeploymentState
    from releases.models import Deployment, Release
    from releases.versions import version_sort_key
    from teams.choices import Role
    from teams.models import RoleGrant, Team, User

    rng = random.Random(args.seed)
    started = time.perf_counter()
    with transaction.atomic():
        names = [f"{kind} {region}" for kind in ENVIRONMENT_KINDS for region in REGIONS]
        names += [f"Sandbox {n}" for n in range(1, args.environments - len(names) + 1)]
        environments = Environment.objects.bulk_create(
            Environment(name=name, slug=name.lower().replace(" ", "-"), sort_order=n)
            for n, name in enumerate(names[: args.environments])
        )
        # Lifecycles: every environment; one region; no staging; the Americas. Phases go
        # by kind (Development → … → Production), environments in environment order.
        shapes = {
            "Everywhere": lambda env: True,
            "EU only": lambda env: env.name.endswith(" EU"),
            "No staging": lambda env: not env.name.startswith("Staging"),
            "Americas": lambda env: env.name.endswith((" US", " LATAM")),
        }
        reach: dict[int, list] = {}
        lifecycles = []
        for name, keeps in shapes.items():
            lifecycle = Lifecycle.objects.create(name=name)
            lifecycles.append(lifecycle)
            kept = [env for env in environments if keeps(env)] or environments
            reach[lifecycle.pk] = kept
            for position, kind in enumerate(ENVIRONMENT_KINDS + ["Sandbox"], start=1):
                members = [env for env in kept if env.name.startswith(kind)]
                if members:
                    phase = Phase.objects.create(lifecycle=lifecycle, name=kind, position=position)
                    PhaseEnvironment.objects.bulk_create(
                        PhaseEnvironment(phase=phase, environment=env) for env in members
                    )

        groups = ProjectGroup.objects.bulk_create(
            ProjectGroup(name=f"Group {n:02d}") for n in range(1, args.groups + 1)
        )
        projects = Project.objects.bulk_create(
            Project(
                name=f"Project {n:03d}",
                slug=f"project-{n:03d}",
                group=groups[n % len(groups)],
                lifecycle=lifecycles[rng.choices(range(len(lifecycles)), weights=[6, 2, 3, 2])[0]],
            )
            for n in range(1, args.projects + 1)
        )

        # Releases one to three days apart per project, the newest half a day ago.
        now = datetime.now(UTC)
        release_rows = []
        for project in projects:
            gaps = [timedelta(hours=rng.uniform(24, 72)) for _ in range(args.releases)]
            moment = now - timedelta(hours=12) - sum(gaps, timedelta())
            for n, gap in enumerate(gaps):
                moment += gap
                version = f"{1 + n // 10}.{n % 10}.{rng.randint(0, 3)}"
                release_rows.append(
                    Release(
                        project=project,
                        version=version,
                        created_at=moment,
                        sort_key=version_sort_key(version, moment),
                    )
                )
        # Versions repeat within a project now and then: keep the first of each.
        unique = {(r.project_id, r.version): r for r in reversed(release_rows)}
        releases = Release.objects.bulk_create(
            sorted(unique.values(), key=lambda r: (r.project_id, r.created_at)), batch_size=5000
        )
        by_project: dict[int, list] = {}
        for release in releases:
            by_project.setdefault(release.project_id, []).append(release)

        # Deployments: busy projects get many, quiet ones few; a release goes to earlier
        # environments more often than to later ones.
        weights = [rng.lognormvariate(0, 1) for _ in projects]
        rows = []
        for project in rng.choices(projects, weights=weights, k=args.deployments):
            targets = reach[project.lifecycle_id]
            environment = rng.choices(targets, weights=[len(targets) - i for i in range(len(targets))])[0]
            release = rng.choice(by_project[project.pk])
            created = min(
                release.created_at + timedelta(minutes=rng.uniform(5, 60 * 24 * 3)),
                now - timedelta(minutes=rng.uniform(1, 600)),
            )
            rows.append((created, project, environment, release))
        rows.sort(key=lambda row: row[0])  # ids grow with time, as they would

        latest_state = [
            (DeploymentState.SUCCESS, 60),
            (DeploymentState.FAILED, 12),
            (DeploymentState.WAITING, 10),
            (DeploymentState.EXECUTING, 8),
            (DeploymentState.QUEUED, 6),
            (DeploymentState.CANCELLED, 4),
        ]
        older_state = [
            (DeploymentState.SUCCESS, 85),
            (DeploymentState.FAILED, 10),
            (DeploymentState.CANCELLED, 5),
        ]
        last_of_cell = {
            (project.pk, environment.pk): n for n, (_, project, environment, _) in enumerate(rows)
        }
        last = set(last_of_cell.values())
        deployments = []
        for n, (created, project, environment, release) in enumerate(rows):
            table = latest_state if n in last else older_state
            state = rng.choices([s for s, _ in table], weights=[w for _, w in table])[0]
            started_at = None if state == DeploymentState.QUEUED else created + timedelta(seconds=5)
            finished = state in (DeploymentState.SUCCESS, DeploymentState.FAILED, DeploymentState.CANCELLED)
            finished_at = created + timedelta(minutes=rng.uniform(1, 30)) if finished else None
            deployments.append(
                Deployment(
                    release=release,
                    project=project,
                    environment=environment,
                    state=state,
                    created_at=created,
                    queued_at=created,
                    started_at=started_at,
                    finished_at=finished_at,
                    updated_at=finished_at or started_at or created,
                )
            )
        Deployment.objects.bulk_create(deployments, batch_size=5000)

        User.objects.create_superuser("bench-admin", email="admin@example.com", password=None)
        viewer = User.objects.create_user("bench-viewer", display_name="Bench Viewer")
        team = Team.objects.create(name="Bench Viewers")
        team.members.add(viewer)
        grant = RoleGrant.objects.create(team=team, role=Role.VIEWER)
        grant.project_groups.set(groups[: args.scoped_groups])

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    cells = len(last_of_cell)
    print(
        f"Seeded {len(projects)} projects in {len(groups)} groups × {len(environments)} environments, "
        f"{len(releases)} releases, {len(deployments)} deployments in {cells} cells "
        f"in {time.perf_counter() - started:.1f} s"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def render(client, headers: dict, renders: int) -> tuple[list[float], int, int]:
    """Times ``renders`` GETs of the dashboard; returns the times (ms), the queries of one
    request and the size of the page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        client.get("/", headers=headers)
    times = []
    for _ in range(renders):
        started = time.perf_counter()
        response = client.get("/", headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/", headers=headers)
    return times, len(queries), len(response.content)


def bench_render(args: argparse.Namespace) -> None:
    from django.test import Client, override_settings

    from teams.models import User

    # No collectstatic here: static URLs need no manifest.
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    print(f"Dashboard render, {args.renders} requests each after 2 warm-ups (test client, PostgreSQL):")
    with override_settings(STORAGES=storages):
        for username, who in (("bench-admin", "superuser"), ("bench-viewer", "scoped user")):
            client = Client()
            client.force_login(User.objects.get(username=username))
            for headers, kind in (({}, "page"), ({"HX-Request": "true"}, "live update")):
                times, queries, size = render(client, headers, args.renders)
                print(
                    f"    {who:11} {kind:11}  p50 {percentile(times, 50):7.1f} ms   "
                    f"p95 {percentile(times, 95):7.1f} ms   {queries:2} queries   {size / 1024:7.0f} KiB"
                )


# What htmx asks for: the grid's hx-get, which names the version the grid shows.
GRID_POLL_URL = re.compile(r'id="dashboard-grid"[^>]*?hx-get="([^"]*)"')
POLLS_PER_MINUTE = 30


def bench_polls(args: argparse.Namespace) -> None:
    """A minute of the superuser's open dashboard while nothing changes, after the poll
    that follows the page load."""
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    from teams.models import User

    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        client = Client()
        client.force_login(User.objects.get(username="bench-admin"))
        url = html.unescape(GRID_POLL_URL.search(client.get("/").content.decode()).group(1))

        def poll() -> tuple[int, int, float, int]:
            """One poll as htmx makes it; a fragment that replaces the region names the
            next URL, one swapped inside it leaves the region's URL as it was."""
            nonlocal url
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url, headers={"HX-Request": "true"})
                elapsed = (time.perf_counter() - started) * 1000
            swapped = GRID_POLL_URL.search(response.content.decode())
            if swapped:
                url = html.unescape(swapped.group(1))
            return response.status_code, len(response.content), elapsed, len(captured)

        status, size, elapsed, _ = poll()
        print(
            f"Superuser's dashboard, the first poll after the page: {status}, "
            f"{size / 1024 / 1024:.2f} MiB, {elapsed:.1f} ms"
        )
        polls = [poll() for _ in range(POLLS_PER_MINUTE)]
    statuses: dict[int, int] = {}
    for status, *_ in polls:
        statuses[status] = statuses.get(status, 0) + 1
    answers = ", ".join(f"{count} × {status}" for status, count in sorted(statuses.items()))
    times = [elapsed for _, _, elapsed, _ in polls]
    print(
        f"Then a minute with nothing changing ({POLLS_PER_MINUTE} polls: {answers}): "
        f"{sum(size for _, size, _, _ in polls) / 1024 / 1024:.2f} MiB of response bodies; a poll "
        f"p50 {percentile(times, 50):.1f} ms, p95 {percentile(times, 95):.1f} ms, "
        f"{max(queries for *_, queries in polls)} queries"
    )


def explain(args: argparse.Namespace) -> None:
    """The latest-deployment-per-cell query for both users: its time, its plan (EXPLAIN
    ANALYZE), and the time of the form it replaced, a correlated subquery per deployment."""
    from django.db.models import OuterRef

    from lifecycles.models import Environment
    from processes.models import Project
    from releases.models import Deployment
    from releases.selectors import latest_deployments
    from teams.models import User

    for username in ("bench-admin", "bench-viewer"):
        user = User.objects.get(username=username)
        projects = list(Project.objects.visible_to(user))
        environments = list(Environment.objects.all())
        queryset = latest_deployments(user, projects, environments)
        newest_per_cell = (
            Deployment.objects.filter(
                project_id=OuterRef("project_id"), environment_id=OuterRef("environment_id")
            )
            .visible_to(user)
            .order_by("-id")
            .values("pk")[:1]
        )
        reference = (
            Deployment.objects.visible_to(user)
            .filter(project__in=projects, environment__in=environments, pk=newest_per_cell)
            .select_related("release")
        )
        times = {"grouped": [], "subquery": []}
        for _ in range(5):
            for name, query in (("grouped", queryset), ("subquery", reference)):
                started = time.perf_counter()
                count = len(list(query.all()))
                times[name].append((time.perf_counter() - started) * 1000)
        print(
            f"Latest deployment per cell, {username} ({len(projects)} projects × {len(environments)} "
            f"environments, {count} cells with a deployment): p50 {percentile(times['grouped'], 50):.1f} ms; "
            f"the correlated subquery it replaced: p50 {percentile(times['subquery'], 50):.1f} ms"
        )
        plan = re.sub(
            r"'\{[0-9,]{60,}\}'",
            lambda m: f"'{{…{m.group().count(',') + 1} ids}}'",
            queryset.explain(analyze=True),
        )
        print("    " + plan.replace("\n", "\n    "))


def main() -> None:
    args = parse_args()
    reused = recreate_database(args.database_url, reuse=args.reuse)
    setup_django(args)
    if not reused:
        seed(args)
    explain(args)
    bench_render(args)
    bench_polls(args)


if __name__ == "__main__":
    main()
