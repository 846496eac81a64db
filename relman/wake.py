"""Waking a request that waits for something another process does (an agent's claim
waiting for a step to become runnable), within milliseconds and without a sleep loop.

``notify_on_commit(channel)`` is called in the transaction that makes the thing happen;
``Listener(channel)`` is opened by the waiting side *before* it looks for the thing, so a
notification sent between its look and its wait is not missed.

- On PostgreSQL: ``NOTIFY``, which the database delivers when the notifying transaction
  commits, and ``LISTEN`` on the waiting request's own connection (a thread of a gthread
  web worker; no extra process).
- On SQLite (the embedded single-machine mode, where the web server and the workers share
  the var folder): a Unix datagram socket per waiting request under ``VAR_DIR/wake/``;
  the notifier sends one byte to each socket of the channel after commit. No server.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import socket
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction


def _uses_postgresql() -> bool:
    return connection.vendor == "postgresql"


def _folder(channel: str) -> Path:
    return Path(settings.VAR_DIR) / "wake" / channel


def notify_on_commit(channel: str) -> None:
    """Wakes every listener of ``channel`` once the current transaction commits (at once
    outside one). ``channel`` is a short word of letters, digits and underscores."""
    if _uses_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [channel])
        return
    transaction.on_commit(lambda: _send_to_sockets(channel))


def _send_to_sockets(channel: str) -> None:
    folder = _folder(channel)
    if not folder.is_dir():
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for path in folder.glob("*.sock"):
            try:
                sender.sendto(b"!", str(path))
            except (ConnectionRefusedError, FileNotFoundError):
                # Left behind by a process that was killed while it listened.
                path.unlink(missing_ok=True)
            except BlockingIOError:
                pass  # its buffer holds a wake-up already: one is enough


class Listener:
    """``with Listener(channel) as listener: … listener.wait(seconds)``: True when woken,
    False when the time passed."""

    def __init__(self, channel: str):
        self.channel = channel
        self._socket: socket.socket | None = None
        self._path = ""

    def __enter__(self) -> Listener:
        if _uses_postgresql():
            connection.ensure_connection()
            raw = connection.connection
            raw.notifies.clear()
            with connection.cursor() as cursor:
                cursor.execute(f'LISTEN "{self.channel}"')
        else:
            folder = _folder(self.channel)
            folder.mkdir(parents=True, exist_ok=True)
            self._path = str(folder / f"{secrets.token_hex(6)}.sock")
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.bind(self._path)
        return self

    def wait(self, seconds: float) -> bool:
        if seconds <= 0:
            return False
        if self._socket is not None:
            readable, _, _ = select.select([self._socket], [], [], seconds)
            if readable:
                with contextlib.suppress(BlockingIOError):
                    self._socket.recv(16, socket.MSG_DONTWAIT)
            return bool(readable)
        raw = connection.connection
        if not raw.notifies:
            readable, _, _ = select.select([raw], [], [], seconds)
            if readable:
                raw.poll()
        woken = bool(raw.notifies)
        raw.notifies.clear()
        return woken

    def __exit__(self, *exc_info) -> None:
        if self._socket is not None:
            self._socket.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            return
        if connection.connection is not None:
            with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
                cursor.execute(f'UNLISTEN "{self.channel}"')
