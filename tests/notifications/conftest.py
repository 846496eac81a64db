"""Real receivers for the notification tests: an SMTP server (aiosmtpd) and an HTTP server
in a thread whose answers each test scripts, and a clock tests move by hand."""

from __future__ import annotations

import contextlib
import email
import email.policy
import hashlib
import hmac
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from tests.api.conftest import api  # noqa: F401  (the API tests' clients with real keys)
from tests.releases.conftest import wait_for, workers  # noqa: F401  (real worker processes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """What the SMTP server received: one parsed message per recipient address."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            message["X-Envelope-To"] = rcpt
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["X-Envelope-To"] == address]

    @property
    def recipients(self) -> list[str]:
        return sorted(m["X-Envelope-To"] for m in self.messages)


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free port, and the settings that send mail to it."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.RELMAN_EMAIL_ENABLED = True
    settings.RELMAN_BASE_URL = "https://relman.example.com"
    try:
        yield mailbox
    finally:
        controller.stop()


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server that answers each POST with the next of ``answers`` (the last one
    repeats): a status code, ``"silent"`` (never answers in time) or ``("big", status)``
    (a 3 MB body)."""

    answers: list = field(default_factory=lambda: [200])
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def answer(self):
        index = min(len(self.requests) - 1, len(self.answers) - 1)
        return self.answers[index]

    @staticmethod
    def verify(secret: str, request: Request) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, request.headers["X-Relman-Signature"])


@pytest.fixture
def receiver():
    state = Receiver()
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(Request(headers=dict(self.headers), body=body))
            answer = state.answer()
            if answer == "silent":
                stop.wait(30)
                return
            status, payload = (answer[1], b"x" * 3_000_000) if isinstance(answer, tuple) else (answer, b"ok")
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            # The client may read what it wants and hang up.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        yield state
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


class Clock:
    """``timezone.now()`` frozen at a moment the test moves forward."""

    def __init__(self, monkeypatch):
        self.now = timezone.now()
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)
