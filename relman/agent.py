"""``relman-agent``: runs script steps on the target it is installed on.

    relman-agent --url https://relman.example.com --token rmt_… [--work-dir DIR] [--jobs N]

(or ``RELMAN_URL`` and ``RELMAN_AGENT_TOKEN`` in the environment). Standard library only,
so it runs on a bare server with Python 3.11, installed with the package or copied as this
one file. It talks to the server's agent endpoints over HTTP(S) and nothing else:

- it long-polls ``claim/`` (the server answers as soon as a run is ready, or with 204
  before the target would show offline), so a job reaches an idle agent at once;
- it runs the job's script with bash in a fresh work folder with the job's variables, its
  own process group and the job's timeout (SIGTERM, then SIGKILL after a grace period);
- while the script runs it sends output lines in small batches each ``REPORT_SECONDS`` and
  a heartbeat with them; when the server answers ``stop`` (the deployment was cancelled)
  it stops the script the same way, within seconds;
- it reports the exit code, retrying until the server acknowledges it.

Exit codes: 0 stopped by SIGTERM/SIGINT; 2 a wrong URL, a refused token or bad options (one
line on stderr saying which).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from importlib.metadata import PackageNotFoundError, version
from typing import Any

EXIT_STOPPED = 0
EXIT_ERROR = 2
API_PREFIX = "/api/v1/agent"
# How often a running script's output is sent; every report is also its heartbeat.
REPORT_SECONDS = 0.5
# A heartbeat goes out at least this often, so a cancel reaches the script within seconds.
HEARTBEAT_SECONDS = 1.0
# How long a stopped script gets between SIGTERM and SIGKILL.
STOP_GRACE_SECONDS = 3.0
# A report carries at most this many lines (the server's limit) and about this many bytes.
REPORT_MAX_LINES = 500
REPORT_MAX_BYTES = 512 * 1024
# The longest wait between retries when the server cannot be reached.
RETRY_MAX_SECONDS = 30.0


class AgentError(Exception):
    """A failure the operator must fix (wrong URL, refused token): one line, exit 2."""


class Refused(AgentError):
    """The server refused the token (401/403)."""


class Gone(Exception):
    """The server no longer takes reports about this run (404/409): it decided already."""


def _version() -> str:
    try:
        return version("relman")
    except PackageNotFoundError:  # run as a copied single file
        return "unknown"


class Server:
    """The agent endpoints, as JSON over urllib with the agent token."""

    def __init__(self, url: str, token: str):
        self.base = url.rstrip("/") + API_PREFIX
        self.token = token
        self.user_agent = f"relman-agent/{_version()}"

    def post(self, path: str, body: dict[str, Any], *, timeout: float) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": self.user_agent,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            detail = _detail(error)
            if error.code in (401, 403):
                raise Refused(f"the server refused the agent token: {detail}") from None
            if error.code in (404, 409) and path != "/claim/":
                raise Gone(detail) from None
            if error.code == 404:
                raise AgentError(f"no Relman agent API at {self.base}/ (HTTP 404); check --url") from None
            raise ConnectionError(f"HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ConnectionError(f"cannot reach {self.base}/: {reason}") from None
        except json.JSONDecodeError:
            raise AgentError(f"{self.base}/ did not answer with JSON; check --url") from None


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        return json.loads(error.read()).get("detail", error.reason)
    except (ValueError, AttributeError):
        return str(error.reason)


class Agent:
    def __init__(self, server: Server, work_dir: str, jobs: int):
        self.server = server
        self.work_dir = work_dir
        self.jobs = jobs
        self.stopping = threading.Event()
        self.fatal: list[str] = []
        self.hostname = socket.gethostname()

    def check(self) -> None:
        """One claim that does not wait: proves the URL and the token before going on."""
        job = self.claim(wait=0)
        if job is not None:
            self.run(job)

    def claim(self, *, wait: float | None = None) -> dict | None:
        body: dict[str, Any] = {"hostname": self.hostname, "version": _version()}
        if wait is not None:
            body["wait"] = wait
        status, job = self.server.post("/claim/", body, timeout=(wait or 0) + 60)
        return job if status == 200 else None

    def loop(self) -> None:
        """One job slot: claim, run, repeat until stopped. A server that cannot be reached
        is retried with growing waits; a refused token ends the agent."""
        delay = 1.0
        while not self.stopping.is_set():
            try:
                job = self.claim()
                delay = 1.0
            except ConnectionError as error:
                _say(f"{error}; retrying in {delay:.0f} s")
                self.stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            except AgentError as error:
                self.fatal.append(str(error))
                self.stopping.set()
                return
            if job is not None:
                self.run(job)

    def run(self, job: dict) -> None:
        _say(f"running {job['step']} (run {job['run']}, attempt {job['attempt']})")
        folder = tempfile.mkdtemp(prefix=f"relman-run-{job['run']}-", dir=self.work_dir)
        try:
            outcome = Run(self, job, folder).execute()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.finish(job, outcome)

    def finish(self, job: dict, outcome: dict) -> None:
        """Reports the outcome until the server acknowledges it: the same report twice is
        harmless, a lost one would leave the step waiting for the sweep."""
        delay = 1.0
        body = {"attempt": job["attempt"], **outcome}
        while True:
            try:
                self.server.post(f"/runs/{job['run']}/finish/", body, timeout=30)
                _say(f"run {job['run']} finished: exit code {outcome['exit_code']}")
                return
            except Gone as error:
                _say(f"run {job['run']}: the server did not take the outcome: {error}")
                return
            except (ConnectionError, AgentError) as error:
                _say(f"reporting run {job['run']}: {error}; retrying in {delay:.0f} s")
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)


class Run:
    """One job: the script's process, its output and its reports."""

    def __init__(self, agent: Agent, job: dict, folder: str):
        self.agent = agent
        self.job = job
        self.folder = folder
        self.lines: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self.head = job["output_max_lines"] - job["output_tail_lines"]
        self.sent = 0
        self.tail: collections.deque[dict] = collections.deque(maxlen=job["output_tail_lines"])
        self.omitted = 0
        self.line_max = job["line_max_chars"]

    def execute(self) -> dict:
        script = os.path.join(self.folder, "step.sh")
        with open(script, "w") as fh:
            fh.write(self.job["script"])
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": self.folder,
            **self.job["variables"],
        }
        try:
            process = subprocess.Popen(
                [*_DIE_WITH_AGENT, "bash", script],
                cwd=self.folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # so a stop reaches the whole tree
            )
        except OSError as error:
            self.add("error", f"Could not start the script: {error}")
            self.report()
            return {"exit_code": None}
        readers = [
            threading.Thread(target=self.read, args=(process.stdout, "info"), daemon=True),
            threading.Thread(target=self.read, args=(process.stderr, "error"), daemon=True),
        ]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + self.job["timeout_seconds"]
        timed_out = cancelled = False
        last_report = time.monotonic()
        while not self.ended(process, readers):
            now = time.monotonic()
            if now - last_report >= REPORT_SECONDS or self.lines.qsize() >= REPORT_MAX_LINES:
                last_report = now
                stop = self.report()
                if (stop or self.agent.stopping.is_set()) and not (cancelled or timed_out):
                    cancelled = stop
                    _stop(process)
            if now >= deadline and not (cancelled or timed_out):
                timed_out = True
                _stop(process)
        if not self.lines.empty():
            self.report()
        return {
            "exit_code": process.returncode,
            "timed_out": timed_out,
            "cancelled": cancelled,
            "tail": list(self.tail),
            "omitted": self.omitted,
        }

    @staticmethod
    def ended(process: subprocess.Popen, readers: list[threading.Thread]) -> bool:
        """Waits a moment for the script to end (returning as soon as it does, so a short
        script costs no waiting) and says whether it and its output have."""
        try:
            process.wait(timeout=REPORT_SECONDS / 5)
        except subprocess.TimeoutExpired:
            return False
        for reader in readers:
            reader.join(timeout=REPORT_SECONDS / 5)
        return not any(reader.is_alive() for reader in readers)

    def read(self, stream, level: str) -> None:
        cap = self.line_max * 4
        for raw in iter(lambda: stream.readline(cap), b""):
            size = len(raw)
            if size >= cap and not raw.endswith(b"\n"):  # an endless line: skip to its end
                while more := stream.readline(cap):
                    size += len(more)
                    if more.endswith(b"\n"):
                        break
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if size > cap:
                marker = f" … [line truncated: {size:,} bytes]"
                text = text[: self.line_max - len(marker)] + marker
            self.add(level, text)
        stream.close()

    def add(self, level: str, text: str) -> None:
        self.lines.put((level, text))

    def report(self) -> bool:
        """Sends what was printed since the last report (at least a heartbeat); returns
        whether the server said stop. Past the run's head, lines go to the tail instead."""
        batch: list[dict] = []
        size = 0
        while len(batch) < REPORT_MAX_LINES and size < REPORT_MAX_BYTES:
            try:
                level, text = self.lines.get_nowait()
            except queue.Empty:
                break
            line = {"level": level, "text": text}
            if self.sent < self.head:
                batch.append(line)
                self.sent += 1
                size += len(text)
            else:
                if len(self.tail) == self.tail.maxlen:
                    self.omitted += 1
                self.tail.append(line)
        try:
            _, answer = self.agent.server.post(
                f"/runs/{self.job['run']}/report/",
                {"attempt": self.job["attempt"], "lines": batch},
                timeout=30,
            )
        except Gone:
            return True  # the server gave the run up (the sweep, a cancel): stop
        except (ConnectionError, AgentError) as error:
            _say(f"reporting output of run {self.job['run']}: {error}")
            return False
        return bool(answer and answer.get("stop"))


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the script's process group, SIGKILL if it is still there after the grace."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


# If the agent is killed, its scripts die with it (util-linux's setpriv, where present), so
# the server's "agent lost" verdict is true and nothing keeps changing the target.
_SETPRIV = shutil.which("setpriv")
_DIE_WITH_AGENT = [_SETPRIV, "--pdeathsig", "KILL"] if _SETPRIV else []


def _say(message: str) -> None:
    print(f"relman-agent: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="relman-agent", description="Runs Relman script steps on this target."
    )
    parser.add_argument("--url", default=os.environ.get("RELMAN_URL", ""), help="The server (RELMAN_URL).")
    parser.add_argument(
        "--token",
        default=os.environ.get("RELMAN_AGENT_TOKEN", ""),
        help="The target's token (RELMAN_AGENT_TOKEN).",
    )
    parser.add_argument("--work-dir", default=tempfile.gettempdir(), help="Where each job's folder is made.")
    parser.add_argument("--jobs", type=int, default=1, help="Jobs run at the same time (default 1).")
    args = parser.parse_args(argv)
    if not args.url or not args.token:
        _say(
            "give the server's address and the target's token: --url and --token (or RELMAN_URL and RELMAN_AGENT_TOKEN)"
        )
        return EXIT_ERROR
    if args.jobs < 1 or not os.path.isdir(args.work_dir):
        _say("--jobs is at least 1 and --work-dir an existing folder")
        return EXIT_ERROR
    agent = Agent(Server(args.url, args.token), args.work_dir, args.jobs)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: agent.stopping.set())
    try:
        agent.check()
    except (AgentError, ConnectionError) as error:
        _say(str(error))
        return EXIT_ERROR
    _say(f"connected to {args.url} as {agent.hostname}; running up to {args.jobs} job(s) at a time")
    slots = [threading.Thread(target=agent.loop, daemon=True) for _ in range(args.jobs)]
    for slot in slots:
        slot.start()
    while any(slot.is_alive() for slot in slots):
        agent.stopping.wait(0.5)
        if agent.stopping.is_set():
            for slot in slots:
                slot.join(timeout=STOP_GRACE_SECONDS * 3)
            break
    if agent.fatal:
        _say(agent.fatal[0])
        return EXIT_ERROR
    return EXIT_STOPPED


if __name__ == "__main__":
    sys.exit(main())
