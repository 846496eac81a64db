"""Where a webhook may send: http(s) to a host that is not this Relman server. Checked
when a webhook is saved and again before every attempt, since what a name resolves to can
change after it was saved."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from django.conf import settings

_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_refusal(url: str, *, server_host: str | None = None) -> str | None:
    """Why the URL cannot receive webhooks, or None: it must be http(s) with a host, and
    must not be this Relman server (RELMAN_BASE_URL, or the host the request came to) —
    a webhook that calls Relman would have it act on its own events."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return f"{url!r} is not a URL."
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return "A webhook URL starts with http:// or https:// and names a host."
    for server in filter(None, [settings.RELMAN_BASE_URL, server_host and f"//{server_host}"]):
        other = urlsplit(server)
        other_port = other.port or _DEFAULT_PORTS.get(other.scheme or parts.scheme)
        if port == other_port and _same_host(parts.hostname, other.hostname or ""):
            return "A webhook URL cannot point at this Relman server itself."
    return None


def _same_host(one: str, other: str) -> bool:
    if one.lower() == other.lower():
        return True
    return bool(_addresses(one) & _addresses(other))


def _addresses(host: str) -> set[str]:
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        return set()
