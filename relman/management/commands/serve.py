"""``manage.py serve``: Relman on one machine, with nothing else installed.

Prepares ``var/`` (the SQLite database, the filesystem broker's folders, beat's schedule),
applies migrations (``--prepare-only`` stops there), then runs four child processes until
stopped:

- the web server (gunicorn serving ``relman.wsgi``),
- a real Celery worker on the ``steps`` queue, which runs every deployment step (the web
  request never does),
- a second worker on the ``system`` queue, for the sweep and the audit sealer, so that
  long scripts never hold them up (relman.settings.CELERY_TASK_ROUTES),
- Celery beat, which sends the periodic sweep and sealer,
- and, once the demo is loaded (``seed_demo``), a ``relman-agent`` for its "Manual Test"
  target, so the demo's Deploy step runs on an agent: the target's token is rotated at
  each start and handed to the agent in its environment alone.

Ctrl-C (SIGINT), SIGTERM or SIGHUP stops all of them: each child gets SIGTERM (a warm
shutdown for Celery, a graceful one for gunicorn), and whatever is still running after
``STOP_TIMEOUT_SECONDS`` is killed together with its own children. If one child dies on
its own, the others are stopped and the command exits non-zero, naming the one that died.

Production runs the same programs as separate services instead (SPEC §7).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from relman.demo import DEMO_TARGET_SLUG
from targets.models import Target
from targets.services import target_rotate_token

STOP_TIMEOUT_SECONDS = 10
AGENT_START_TIMEOUT_SECONDS = 30
POLL_SECONDS = 0.2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# The filesystem transport supports fanout, but remote control over it leaves a pidbox
# binding (and, after a crash, undeliverable broadcast files) behind for every worker that
# ever ran; the embedded worker never needs `celery inspect`/`control`, so it is turned off.
FILESYSTEM_WORKER_CONFIG = ["--", "worker.enable_remote_control=False"]
# One worker per queue (relman.settings.CELERY_TASK_ROUTES), as production runs them, so
# long scripts on `steps` never hold up the sweep and the audit sealer on `system`:
# (queue, worker processes).
WORKER_QUEUES = (("steps", 2), ("system", 1))
BROKER_FOLDER_OPTIONS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


@dataclass
class Child:
    """One started program: a label for messages and its process."""

    name: str
    process: subprocess.Popen[bytes]

    @property
    def running(self) -> bool:
        return self.process.poll() is None


class Command(BaseCommand):
    help = "Runs the web server, Celery workers and Celery beat on this machine (embedded mode)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind the web server.")
        parser.add_argument("--port", type=int, default=8000, help="Port of the web server.")
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Start only the web server (Celery workers and beat run elsewhere).",
        )
        parser.add_argument(
            "--prepare-only",
            action="store_true",
            help="Create the var/ folders and apply migrations, then exit (e.g. before seed_demo, "
            "so that the messages it sends wait in the broker for the worker).",
        )

    def handle(
        self, *args: Any, host: str, port: int, no_worker: bool, prepare_only: bool, **options: Any
    ) -> None:
        self.prepare_var_dir()
        call_command("migrate", interactive=False, verbosity=options["verbosity"])
        if not settings.DEBUG:
            # Outside debug, static files are served from the collected, hashed copies.
            call_command("collectstatic", interactive=False, verbosity=0)
        if prepare_only:
            return

        programs = [("web server", self.web_command(host, port))]
        if not no_worker:
            programs += [
                (f"Celery worker ({queue})", self.worker_command(queue, concurrency=concurrency))
                for queue, concurrency in WORKER_QUEUES
            ]
            programs.append(("Celery beat", self.beat_command()))

        stop_requested: list[int] = []

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop_requested.append(signum)

        previous = {signum: signal.signal(signum, request_stop) for signum in STOP_SIGNALS}
        children: list[Child] = []
        try:
            for name, command in programs:
                children.append(self.start(name, command))
            if not no_worker and Target.objects.filter(slug=DEMO_TARGET_SLUG).exists():
                self.wait_until_serving(host, port, children[0])
                children.append(self.start_demo_agent(host, port))
            self.say(f"Relman is running at {url(host, port)} - press Ctrl-C to stop.")
            dead = self.watch(children, stop_requested)
        finally:
            self.stop(children)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        if dead is not None:
            raise CommandError(
                f"The {dead.name} (pid {dead.process.pid}) exited unexpectedly with code "
                f"{dead.process.returncode}; stopped the other processes."
            )
        self.say("Stopped.")

    # Preparation -------------------------------------------------------------------------

    def prepare_var_dir(self) -> None:
        folders = [Path(settings.VAR_DIR)]
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
            folders += [Path(options[key]) for key in BROKER_FOLDER_OPTIONS if key in options]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)

    # The programs ------------------------------------------------------------------------

    def web_command(self, host: str, port: int) -> list[str]:
        # gthread: an agent's idle long-poll holds a thread, not a process; eight leave the
        # pages room beside a few agents on one machine.
        command = [
            sys.executable, "-m", "gunicorn", "relman.wsgi:application",
            "--bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "--workers", "1",
            "--threads", "8",
            "--graceful-timeout", str(STOP_TIMEOUT_SECONDS - 2),
        ]  # fmt: skip
        if gunicorn_has_control_socket():
            # Newer gunicorns open a control socket in $HOME, shared by every instance.
            command.append("--no-control-socket")
        return command

    def worker_command(self, queue: str, *, concurrency: int) -> list[str]:
        command = [
            sys.executable, "-m", "celery", "-A", "relman", "worker",
            "--queues", queue,
            "--hostname", f"{queue}@%h",
            "--loglevel", "INFO",
            "--concurrency", str(concurrency),
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            command += FILESYSTEM_WORKER_CONFIG
        return command

    def beat_command(self) -> list[str]:
        schedule = Path(settings.VAR_DIR) / "celerybeat-schedule"
        return [
            sys.executable, "-m", "celery", "-A", "relman", "beat",
            "--loglevel", "INFO",
            "--schedule", str(schedule),
        ]  # fmt: skip

    def start_demo_agent(self, host: str, port: int) -> Child:
        """The demo target's agent, as a child like the others. Its environment is its URL
        and token and nothing else of this command's (no database URL, no secret key)."""
        target = Target.objects.get(slug=DEMO_TARGET_SLUG)
        token = target_rotate_token(target=target, actor=None)
        work_dir = Path(settings.VAR_DIR) / "agent"
        work_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "relman.agent", "--work-dir", str(work_dir)]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONUNBUFFERED": "1",
            "RELMAN_URL": url(host, port),
            "RELMAN_AGENT_TOKEN": token,
        }
        return self.start(f"agent of the {target.name} target", command, env=env)

    def wait_until_serving(self, host: str, port: int, web: Child) -> None:
        """Waits for the web server to answer its liveness probe (the agent's first request
        must reach it), or for it to die."""
        deadline = time.monotonic() + AGENT_START_TIMEOUT_SECONDS
        while web.running and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url(host, port)}healthz", timeout=2):
                    return
            except OSError:
                time.sleep(POLL_SECONDS)

    # Running and stopping ----------------------------------------------------------------

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Child:
        env = env or {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            # Its own session: Ctrl-C in the terminal reaches this command alone, which then
            # stops each child in order; and the child's whole group can be killed at the end.
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        self.say(f"Started the {name} (pid {process.pid}): {' '.join(command[1:])}")
        return Child(name, process)

    def watch(self, children: list[Child], stop_requested: list[int]) -> Child | None:
        """Waits for a stop signal (returns None) or for a child to die (returns it)."""
        while not stop_requested:
            for child in children:
                if not child.running:
                    return child
            time.sleep(POLL_SECONDS)
        name = signal.Signals(stop_requested[0]).name
        self.say(f"Received {name}, stopping (up to {STOP_TIMEOUT_SECONDS} s)...")
        return None

    def stop(self, children: list[Child]) -> None:
        for child in children:
            if child.running:
                child.process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in children:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"The {child.name} (pid {child.process.pid}) did not stop; killing it.")
            # Kills the child if it is still there, and anything it started and left behind.
            kill_group(child.process.pid)
            child.process.wait()

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()


def url(host: str, port: int) -> str:
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def gunicorn_has_control_socket() -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def die_with_parent() -> Callable[[], None] | None:
    """On Linux, a function that makes a child receive SIGTERM when this command dies, even
    by SIGKILL, so no worker is left running without its parent."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return set_death_signal
