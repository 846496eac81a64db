"""Running a script step: the one thing a runner does.

A runner is told "run this script with these variables for at most this long", reports
its output lines as they come and asks, every heartbeat, whether the step is still wanted;
it stops the script when its time is up or it is no longer wanted, and answers with an
``Outcome``. It decides nothing about the deployment: the engine does, from the outcome.

``LocalRunner`` (the built-in runner) runs the script as a subprocess of the worker, as
the unprivileged ``RELMAN_SCRIPT_USER``. A runner that hands the job to an agent on a
target implements the same ``Runner`` protocol.
"""

from __future__ import annotations

import os
import pwd
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
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
    # Why the runner would not run the script at all: the step's failure reason.
    refusal: str = ""


class Reporter(Protocol):
    """Where a runner reports to while a script runs (the engine's side)."""

    def lines(self, lines: list[tuple[str, str]]) -> None:
        """Records output lines, as (log level, text) pairs, in the order printed."""

    def heartbeat(self) -> bool:
        """Says the run is alive; False when the step no longer wants it (cancelled)."""


class Runner(Protocol):
    def run(self, job: Job, reporter: Reporter) -> Outcome: ...


class LocalRunner:
    """Runs the script as a subprocess of the worker, as ``RELMAN_SCRIPT_USER``: another
    user than the worker's, so the script cannot read the worker's environment (its
    ``/proc`` entries are the worker's user's) nor its files (the var folder and an SQLite
    database are kept private), with a minimal environment (never the worker's own), in a
    fresh work folder that user owns, removed afterwards.

    It refuses, and never falls back to running the script as the worker's own user, when
    it is turned off (``RELMAN_BUILTIN_RUNNER=0``) or cannot switch users. Only
    ``RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER``, which settings allow in debug mode alone,
    skips the switch, and every run then says so in its log."""

    def run(self, job: Job, reporter: Reporter) -> Outcome:
        try:
            user = _script_user(reporter)
        except Refused as refusal:
            return Outcome(exit_code=None, refusal=str(refusal))
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
            if user is not None:
                for path in (script_path, workdir):
                    os.chown(path, user.pw_uid, user.pw_gid)
            try:
                process = subprocess.Popen(
                    _script_command(script_path, user),
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


RUNNER_OFF = (
    "The built-in runner is turned off (RELMAN_BUILTIN_RUNNER=0), so nothing runs a script "
    "step without target roles: give the step target roles so that the agents of the "
    "environment's targets run it, or turn the built-in runner on."
)
UNSAFE_AS_WORKER_USER = (
    "UNSAFE: this script runs as the worker's own user (RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER=1, "
    "development only) and can read the worker's secrets."
)
_HOW_TO_SWITCH = (
    "Run the worker as root (it runs scripts as RELMAN_SCRIPT_USER, never as root), or give it "
    "the capabilities CAP_SETUID, CAP_SETGID, CAP_CHOWN, CAP_KILL and CAP_DAC_OVERRIDE; or give "
    "the step target roles so that an agent runs it; or turn the built-in runner off with "
    "RELMAN_BUILTIN_RUNNER=0. On a development machine only: RELMAN_DEBUG=1 "
    "RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER=1 runs scripts as the worker's own user."
)


class Refused(Exception):
    """The built-in runner will not run the script; the message says why and what to do."""


def _script_user(reporter: Reporter) -> pwd.struct_passwd | None:
    """The user the script runs as (None: the worker's own, in the unsafe development mode),
    once the worker's files are out of that user's reach. Raises Refused when the runner is
    off or cannot run the script as another user than the worker's."""
    if not settings.RELMAN_BUILTIN_RUNNER:
        raise Refused(RUNNER_OFF)
    if settings.RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER:
        reporter.lines([(LogLevel.WARNING, UNSAFE_AS_WORKER_USER)])
        return None
    name = settings.RELMAN_SCRIPT_USER
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        raise Refused(
            f"{_REFUSES}RELMAN_SCRIPT_USER names no user of this worker's machine ({name!r}). "
            f"Create it (useradd --system --no-create-home {name}) or name an existing unprivileged user."
        ) from None
    worker_uid = os.geteuid()
    if user.pw_uid in (0, worker_uid):
        who = "root" if user.pw_uid == 0 else "the worker's own user"
        raise Refused(
            f"{_REFUSES}RELMAN_SCRIPT_USER is {name}, {who}, so the script could read the "
            "worker's secrets. Name an unprivileged user of its own (the default is nobody)."
        )
    missing = _missing_capabilities()
    if missing:
        raise Refused(
            f"{_REFUSES}the worker runs as {_user_name(worker_uid)} without {', '.join(missing)}, "
            f"so it cannot run it as RELMAN_SCRIPT_USER ({name}), and it never runs a script as "
            f"itself. {_HOW_TO_SWITCH}"
        )
    if not _SETPRIV:
        raise Refused(
            f"{_REFUSES}setpriv (util-linux), which runs it as RELMAN_SCRIPT_USER ({name}), is "
            "not installed on the worker's machine."
        )
    _keep_worker_files_private()
    return user


_REFUSES = "The built-in runner refuses to run this script: "


# What the built-in runner needs to run a script as another user: switch to that user,
# give it the work folder, stop its processes, and remove the folder it wrote in.
_CAPABILITIES = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7}


def _missing_capabilities() -> list[str]:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:  # no /proc: only root can switch users
        return [] if os.geteuid() == 0 else sorted(_CAPABILITIES)
    effective = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("CapEff:"))
    return [name for name, bit in _CAPABILITIES.items() if not effective >> bit & 1]


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _keep_worker_files_private() -> None:
    """Makes the worker's var folder, and an SQLite database wherever it is, readable by
    the worker's user alone (a default umask leaves them readable by every user, the
    script user included)."""
    private = {Path(settings.VAR_DIR): 0o700}
    for database in settings.DATABASES.values():
        if database["ENGINE"].endswith("sqlite3"):
            name = str(database["NAME"])
            private |= {Path(name + suffix): 0o600 for suffix in ("", "-wal", "-shm", "-journal")}
    for path, mode in private.items():
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(mode)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise Refused(
                f"{_REFUSES}{path} is readable by other users, the script's included, and the "
                f"worker cannot change that ({exc.strerror}). Make it readable by the worker's "
                f"user alone (chmod {mode:o})."
            ) from None


def _script_command(script_path: str, user: pwd.struct_passwd | None) -> list[str]:
    """The shell running the script, as ``user`` (None: the worker's own user), under
    ``setpriv``. Switching there rather than through ``Popen(user=…)`` keeps the spawn cheap
    (Popen then forks the whole worker instead of vfork-ing, ten times slower). The script
    user gets no capability (none inherited, none ambient, so a worker given capabilities
    rather than run as root passes none on) and no way to gain any through a set-user-ID
    program such as sudo. ``--pdeathsig KILL``: if the worker is killed, the script is
    killed too, so the sweep's "worker lost" verdict is true and no orphan keeps changing
    the target. Without setpriv (never when switching users) the script runs without it."""
    command = [settings.RELMAN_SCRIPT_SHELL, script_path]
    if user is not None:
        switch = [f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
        drop = ["--inh-caps=-all", "--ambient-caps=-all", "--no-new-privs"]
        return [_SETPRIV, *switch, *drop, "--pdeathsig", "KILL", *command]
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
