"""What running a script as RELMAN_SCRIPT_USER costs the built-in runner.

One process, the size of a worker, runs a `true` script through ``LocalRunner`` again and
again, alternately as RELMAN_SCRIPT_USER (the user switch, the checks before it, the work
folder given to that user) and as the worker's own user (RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER,
which skips them: the runner as it was before the switch). Each figure is one whole
``LocalRunner.run`` — folder, spawn, exit, clean-up — so the difference between the two
lines is what the switch adds per script step. Alternating keeps a busy machine's drift
out of the difference. It needs no database and must run as root, as a `steps` worker does.

Run by hand (see bench/README.md):

    .venv/bin/python bench/runner.py [--jobs 400]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A Celery worker process's resident size, about: spawning forks (or vforks) all of it.
WORKER_BYTES = 150 * 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=400, help="scripts run in all, half each way")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/runner.py runs scripts as RELMAN_SCRIPT_USER: run it as root")

    with tempfile.TemporaryDirectory(prefix="relman-bench-runner-") as var_dir:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="relman.settings",
            RELMAN_DEBUG="1",  # allows the unsafe mode, the reference
            RELMAN_VAR_DIR=var_dir,
        )
        bench(args.jobs)


def bench(jobs: int) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    from releases.runner import Job, LocalRunner

    ballast = bytearray(WORKER_BYTES)
    for page in range(0, WORKER_BYTES, 4096):  # touched, so the pages are really there
        ballast[page] = 1

    class Discard:
        def lines(self, lines):
            pass

        def heartbeat(self):
            return True

    job = Job(script="true", variables={"RELMAN_PROJECT": "bench"}, timeout_seconds=30, label="bench")
    timings: dict[bool, list[float]] = {True: [], False: []}
    for n in range(jobs):
        as_worker = n % 2 == 1
        settings.RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER = as_worker
        started = time.perf_counter()
        outcome = LocalRunner().run(job, Discard())
        timings[as_worker].append((time.perf_counter() - started) * 1000)
        if outcome.exit_code != 0:
            sys.exit(f"the script failed: {outcome}")

    print(f"LocalRunner.run of `true`, {jobs // 2} jobs each way, alternating")
    for as_worker, label in (
        (False, f"as {settings.RELMAN_SCRIPT_USER} (switched)"),
        (True, "as the worker's user"),
    ):
        ms = sorted(timings[as_worker])
        p95 = ms[int(len(ms) * 0.95)]
        print(f"    {label:28} p50 {statistics.median(ms):6.2f} ms   p95 {p95:6.2f} ms")


if __name__ == "__main__":
    main()
