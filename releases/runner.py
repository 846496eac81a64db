"""Running a script step: the one thing a runner does.

A runner is told "run this script with these variables for at most this long", reports
its output lines as they come and asks, every heartbeat, whether the step is still wanted;
it stops the script when its time is up or it is no longer wanted, and answers with an
``Outcome``. It decides nothing about the deployment: the engine does, from the outcome.

``LocalRunner`` runs the script as a subprocess of the worker. A runner that hands the job
to an agent on a target implements the same ``Runner`` protocol.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings

from releases.choices import LogLevel


@dataclass(frozen=True)
class Job:
    script: str
    variables: dict[str, str]
    timeout_seconds: int
    # Names the job's scratch folder, so an operator can tell whose it is.
    label: str
    # The release's variables as RELMAN_VAR_<NAME> environment variables, sensitive ones
    # in plain text: a runner passes them to this job's script only.
    project_variables: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """How a run ended. ``exit_code`` is None when the script could not start."""

    exit_code: int | None
    timed_out: bool = False
    cancelled: bool = False


class Reporter(Protocol):
    """Where a runner reports to while a script runs (the engine's side)."""

    def lines(self, lines: list[tuple[str, str]]) -> None:
        """Records output lines, as (log level, text) pairs, in the order printed."""

    def heartbeat(self) -> bool:
        """Says the run is alive; False when the step no longer wants it (cancelled)."""


class Runner(Protocol):
    def run(self, job: Job, reporter: Reporter) -> Outcome: ...


class LocalRunner:
    """Runs the script as a subprocess of the worker, with a minimal environment (never
    the worker's own), in a scratch folder that is removed afterwards."""

    def run(self, job: Job, reporter: Reporter) -> Outcome:
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            **job.variables,
            **job.project_variables,
        }
        with tempfile.TemporaryDirectory(prefix=f"relman-{job.label}-") as workdir:
            env["HOME"] = workdir
            script_path = os.path.join(workdir, "step.sh")
            with open(script_path, "w") as fh:
                fh.write(job.script)
            try:
                process = subprocess.Popen(
                    _script_command(script_path),
                    cwd=workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,  # so a timeout or cancel stops the whole tree
                )
            except OSError as exc:
                reporter.lines([(LogLevel.ERROR, f"Could not start the script: {exc}")])
                return Outcome(exit_code=None)
            return _supervise(process, reporter, job.timeout_seconds)


def _script_command(script_path: str) -> list[str]:
    """The shell running the script, under ``setpriv --pdeathsig KILL`` where util-linux
    has it: if the worker is killed, the script is killed too, so the sweep's "worker lost"
    verdict is true and no orphan keeps changing the target. (A ``preexec_fn`` would do the
    same but makes every spawn from a large worker process ten times slower.)"""
    command = [settings.RELMAN_SCRIPT_SHELL, script_path]
    return [_SETPRIV, "--pdeathsig", "KILL", *command] if _SETPRIV else command


_SETPRIV = shutil.which("setpriv")


def _supervise(process: subprocess.Popen, reporter: Reporter, timeout: int) -> Outcome:
    """Reads the script's stdout (info) and stderr (error) as they come, reporting lines in
    small batches so the page shows them live; stops the script when its timeout passes or
    the reporter says it is no longer wanted."""
    output = _Output(reporter)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, LogLevel.INFO)
    selector.register(process.stderr, selectors.EVENT_READ, LogLevel.ERROR)
    deadline = time.monotonic() + timeout
    heartbeat_every = settings.RELMAN_SCRIPT_HEARTBEAT_SECONDS
    next_heartbeat = time.monotonic() + heartbeat_every
    outcome: Outcome | None = None
    while selector.get_map():
        for key, _ in selector.select(timeout=_LOG_FLUSH_SECONDS):
            chunk = os.read(key.fd, 65536)
            if chunk:
                output.add(key.fileobj, key.data, chunk)
            else:
                output.close(key.fileobj, key.data)
                selector.unregister(key.fileobj)
        output.report_if_due()
        now = time.monotonic()
        if outcome is None and now >= deadline:
            outcome = Outcome(exit_code=None, timed_out=True)
            _stop(process)
        if now >= next_heartbeat:
            next_heartbeat = now + heartbeat_every
            if not reporter.heartbeat() and outcome is None:
                outcome = Outcome(exit_code=None, cancelled=True)
                _stop(process)
    selector.close()
    output.report()
    exit_code = process.wait()
    if outcome is not None:
        outcome.exit_code = exit_code
        return outcome
    return Outcome(exit_code=exit_code)


_LOG_FLUSH_SECONDS = 0.2
_LONGEST_LINE = 64 * 1024


class _Output:
    """A script's output, cut into lines: a line is reported at most _LOG_FLUSH_SECONDS
    after it was printed, or with the next 50."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter
        self.partial: dict[object, bytes] = {}
        self.batch: list[tuple[str, str]] = []
        self.since = 0.0

    def add(self, stream, level: str, chunk: bytes) -> None:
        *lines, rest = (self.partial.get(stream, b"") + chunk).split(b"\n")
        while len(rest) > _LONGEST_LINE:  # a line that never ends is written in pieces
            lines.append(rest[:_LONGEST_LINE])
            rest = rest[_LONGEST_LINE:]
        self.partial[stream] = rest
        for line in lines:
            for start in range(0, max(len(line), 1), _LONGEST_LINE):
                self._line(level, line[start : start + _LONGEST_LINE])

    def close(self, stream, level: str) -> None:
        rest = self.partial.pop(stream, b"")
        if rest:
            self._line(level, rest)

    def _line(self, level: str, raw: bytes) -> None:
        if not self.batch:
            self.since = time.monotonic()
        self.batch.append((level, raw.decode("utf-8", errors="replace").rstrip("\r")))

    def report_if_due(self) -> None:
        if len(self.batch) >= 50 or (self.batch and time.monotonic() - self.since >= _LOG_FLUSH_SECONDS):
            self.report()

    def report(self) -> None:
        if self.batch:
            self.reporter.lines(self.batch)
            self.batch = []


def _stop(process: subprocess.Popen, grace_seconds: float = 5.0) -> None:
    """Terminate the script's process group, then kill it if it does not exit."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace_seconds)
            return
        except subprocess.TimeoutExpired:
            continue
