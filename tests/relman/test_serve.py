"""``manage.py serve`` starts the web server, a real Celery worker and beat, and stops them
all on Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_env(var_dir: Path) -> dict[str, str]:
    """The environment of a fresh machine: nothing configured but debug and var/."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RELMAN_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="relman.settings",
        RELMAN_DEBUG="1",
        RELMAN_VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


def process_table() -> dict[int, tuple[int, str]]:
    """Every process on the machine: pid -> (parent pid, command line)."""
    out = subprocess.run(
        ["ps", "-e", "-o", "pid=,ppid=,args="], capture_output=True, text=True, check=True
    ).stdout
    table = {}
    for line in out.splitlines():
        pid, ppid, *args = line.split(None, 2)
        table[int(pid)] = (int(ppid), args[0] if args else "")
    return table


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid``: pid -> command line."""
    table = process_table()
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, args) in table.items():
            if ppid == parent:
                found[child] = args
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for_login_page(url: str, serve: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            pytest.fail(f"serve exited with {serve.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer 200 in {START_TIMEOUT_SECONDS} s:\n{log.read_text()[-4000:]}")


def wait_for_line_in_log(text: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while text not in log.read_text():
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} not in the log after {START_TIMEOUT_SECONDS} s")
        time.sleep(0.2)


def test_serve_runs_web_worker_and_beat_and_stops_them_on_ctrl_c(tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        serve = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port)],
            cwd=settings.BASE_DIR,
            env=embedded_env(tmp_path / "var"),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    started: dict[int, str] = {}
    try:
        wait_for_login_page(f"http://127.0.0.1:{port}/admin/login/", serve, log)

        started = descendants(serve.pid)
        direct = [args for ppid, args in process_table().values() if ppid == serve.pid]
        assert any("celery" in args and " worker" in args for args in direct), direct
        assert any("celery" in args and " beat" in args for args in direct), direct
        assert any("gunicorn" in args for args in direct), direct
        assert (tmp_path / "var" / "relman.sqlite3").exists()
        wait_for_line_in_log("ready.", log)  # the worker is connected to the broker

        serve.send_signal(signal.SIGINT)
        try:
            returncode = serve.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve still running {STOP_TIMEOUT_SECONDS} s after SIGINT")
        assert returncode == 0, log.read_text()[-4000:]
        assert "Stopped." in log.read_text()
        left = {pid: args for pid, args in started.items() if alive(pid)}
        assert not left, f"still running after serve exited: {left}"
    finally:
        for pid in [serve.pid, *started]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        serve.wait()
