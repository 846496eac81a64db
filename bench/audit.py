"""Audit trail benchmark on PostgreSQL: does chaining slow the application's writers down?

Writers are processes that each run N transactions; a transaction does some other work
(``--work-ms``, half before and half after its audit event, standing in for the change
the event records) and records one event with ``teams.audit.audit_record``. Measured,
in events per second over all writers:

(a) unchained: events are recorded and nobody chains them;
(b) unchained + sealer: the same, while a sealer process runs ``teams.audit.audit_seal``
    back to back (``--seal-interval`` apart; production runs it every 5 s);
(c) reference, the design SPEC §5 rules out: every writer chains its own event, under a
    lock on the chain head held until its transaction commits.

Also printed: the sealer's own rate on the backlog left by (a), how long after the last
write of (b) the chain caught up, and that verify_audit holds at the end.

Run by hand:

    .venv/bin/python bench/audit.py [--writers 2] [--events 2000] [--work-ms 2] [--rounds 3]

It drops and recreates the database named by --database-url.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from common import BENCH_KEYS, recreate_database  # bench/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/relman_bench_audit")
    parser.add_argument("--writers", type=int, default=2, help="writer processes")
    parser.add_argument("--events", type=int, default=2000, help="events (transactions) per writer")
    parser.add_argument("--work-ms", type=float, default=2.0, help="other work in each writer transaction")
    parser.add_argument("--seal-interval", type=float, default=0.05, help="seconds between two seals in (b)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each mode, taking turns")
    return parser.parse_args()


def setup_django(args: argparse.Namespace) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "relman.settings",
            **BENCH_KEYS,
            "RELMAN_HTTPS": "0",
            "RELMAN_DATABASE_URL": args.database_url,
            "RELMAN_LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def prepare() -> None:
    from django.core.management import call_command

    from relman import demo

    call_command("migrate", verbosity=0)
    demo.octopus_demo(password=None)


# --- the writers ----------------------------------------------------------------------------


def _work(seconds: float) -> None:
    from django.db import connection

    if seconds > 0:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(%s)", [seconds])


def _record(actor, project, environment, writer: int, n: int):
    from teams.audit import audit_record

    return audit_record(
        actor=actor,
        action="bench.recorded",
        subject=project,
        project=project,
        environment=environment,
        changes={"writer": writer, "n": n, "state": ["queued", "executing"], "notes": "x" * 200},
        source_ip="10.0.0.1",
    )


def _chain_inline(event) -> None:
    """(c): chain this one event now, holding the chain head's lock until commit."""
    from django.utils import timezone

    from teams.audit import _locked_head, event_hash
    from teams.models import AuditEvent

    head = _locked_head()
    event = AuditEvent.objects.get(pk=event.pk)
    event.sequence = head.sequence + 1
    digest = event_hash(head.hash, event)
    AuditEvent.objects.filter(pk=event.pk).update(
        sequence=event.sequence, previous_hash=head.hash, hash=digest
    )
    head.sequence, head.hash, head.sealed_at = event.sequence, digest, timezone.now()
    head.save(update_fields=["sequence", "hash", "sealed_at"])


def writer(number: int, events: int, work_ms: float, inline: bool, start, done) -> None:
    from django.db import connection, transaction

    from lifecycles.models import Environment
    from processes.models import Project
    from teams.models import User

    actor = User.objects.get(username="sarah")
    project = Project.objects.get(slug="manual-deployment")
    environment = Environment.objects.get(slug="manual-test")
    half = work_ms / 2000
    start.wait()
    began = time.perf_counter()
    for n in range(events):
        with transaction.atomic():
            _work(half)
            event = _record(actor, project, environment, number, n)
            if inline:
                _chain_inline(event)
            _work(half)
    done.put(time.perf_counter() - began)
    connection.close()


def sealer(stop, interval: float) -> None:
    from django.db import connection

    from teams.audit import audit_seal

    while not stop.is_set():
        audit_seal()
        time.sleep(interval)
    connection.close()


def run_writers(args: argparse.Namespace, *, inline: bool = False, with_sealer: bool = False) -> float:
    """Events per second over all writers: all events / the time from the common start
    until the last writer finished."""
    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    start = context.Barrier(args.writers + 1)
    done = context.Queue()
    stop = context.Event()
    processes = [
        context.Process(target=writer, args=(i, args.events, args.work_ms, inline, start, done))
        for i in range(args.writers)
    ]
    seal_process = context.Process(target=sealer, args=(stop, args.seal_interval)) if with_sealer else None
    for process in processes:
        process.start()
    if seal_process:
        seal_process.start()
    start.wait()
    began = time.perf_counter()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - began
    if seal_process:
        stop.set()
        seal_process.join()
    for process in processes:
        if process.exitcode:
            raise SystemExit(f"A writer failed (exit {process.exitcode}).")
    return args.writers * args.events / elapsed


def main() -> None:
    args = parse_args()
    recreate_database(args.database_url)
    setup_django(args)
    prepare()

    from teams.audit import audit_seal, audit_verify
    from teams.models import AuditEvent

    print(
        f"{args.writers} writers x {args.events} transactions, {args.work_ms:g} ms of other work each, "
        f"{args.rounds} rounds (median shown); PostgreSQL at {urlparse(args.database_url).hostname}"
    )
    rates: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    seal_rates, catch_ups = [], []
    for _ in range(args.rounds):
        # The modes take turns, so that the table's growth and the server's caches
        # favour none of them.
        rates["a"].append(run_writers(args))
        backlog = AuditEvent.objects.filter(sequence__isnull=True).count()
        began = time.perf_counter()
        audit_seal()
        seal_rates.append(backlog / (time.perf_counter() - began))

        rates["b"].append(run_writers(args, with_sealer=True))
        left = AuditEvent.objects.filter(sequence__isnull=True).count()
        began = time.perf_counter()
        audit_seal()
        catch_ups.append((left, time.perf_counter() - began))

        rates["c"].append(run_writers(args, inline=True))

    report = audit_verify()
    unchained = statistics.median(rates["a"])
    names = {
        "a": "(a) unchained",
        "b": "(b) unchained + sealer running",
        "c": "(c) chained under a global lock",
    }
    print(f"{'mode':36} {'events/s':>10} {'vs (a)':>8}   rounds")
    for key, name in names.items():
        rate = statistics.median(rates[key])
        rounds = " ".join(f"{r:.0f}" for r in rates[key])
        print(f"{name:36} {rate:10.0f} {rate / unchained:8.0%}   {rounds}")
    print(f"sealer alone on the backlog of (a): {statistics.median(seal_rates):.0f} events/s")
    left, seconds = max(catch_ups, key=lambda item: item[1])
    print(
        f"after (b), at worst: {left} events unsealed when the writers stopped, sealed in {seconds * 1000:.0f} ms"
    )
    expected = 3 * args.rounds * args.writers * args.events
    print(
        f"verify_audit: {'intact' if report.ok else 'BROKEN: ' + str(report.first_break)}, "
        f"{report.checked} events (expected {expected})"
    )


if __name__ == "__main__":
    main()
