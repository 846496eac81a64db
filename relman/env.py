"""Reading ``RELMAN_*`` environment variables, failing loudly on malformed values."""

import os
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


_RATE_PERIODS = {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}


def env_rate(name: str, default: str) -> str | None:
    """A request rate such as ``6000/min`` (periods: s, min, hour, day); empty turns the
    limit off (``None``)."""
    raw = os.environ.get(name, default).strip()
    if not raw:
        return None
    count, _, period = raw.partition("/")
    if not count.isdigit() or int(count) < 1 or period not in _RATE_PERIODS:
        raise ImproperlyConfigured(
            f"{name} must look like 6000/min (a count, then /s, /min, /hour or /day), or be empty; got {raw!r}"
        )
    return raw


def env_redis_url(name: str) -> str:
    """A Redis URL — ``redis://[:password@]host[:port][/db]``, ``rediss://`` for TLS, or
    ``unix:///path/to/socket[?db=N]`` — or ``""`` when unset or empty. The refusal does not
    repeat the value: it may hold a password."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    try:
        url = urlsplit(raw)
        url.port  # noqa: B018 - parsing the port is what refuses a malformed one
    except ValueError:
        url = None
    if url is None or not _is_redis_url(url.scheme, url.hostname, url.path):
        raise ImproperlyConfigured(
            f"{name} must be a Redis URL: redis://host[:port][/db], rediss://host[:port][/db] "
            "(TLS) or unix:///path/to/socket (the value is not shown: it may hold a password)"
        )
    return raw


def _is_redis_url(scheme: str, host: str | None, path: str) -> bool:
    if scheme in ("redis", "rediss"):
        return bool(host) and (path in ("", "/") or path[1:].isdigit())
    return scheme == "unix" and len(path) > 1


def env_email_url(name: str) -> dict[str, object]:
    """Django's SMTP settings (``EMAIL_HOST`` …) from ``smtp://user:pass@host:port`` or
    ``smtp+tls://…`` (STARTTLS; ``smtps://`` for TLS from the first byte), or ``{}`` when
    unset or empty. The refusal does not repeat the value: it may hold a password."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        url = urlsplit(raw)
        port = url.port
    except ValueError:
        url, port = None, None
    if url is None or url.scheme not in _SMTP_SCHEMES or not url.hostname:
        raise ImproperlyConfigured(
            f"{name} must look like smtp://user:password@host:port, smtp+tls://… (STARTTLS) or "
            "smtps://… (the value is not shown: it may hold a password)"
        )
    return {
        "EMAIL_HOST": url.hostname,
        "EMAIL_PORT": port or _SMTP_SCHEMES[url.scheme],
        "EMAIL_HOST_USER": unquote(url.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(url.password or ""),
        "EMAIL_USE_TLS": url.scheme == "smtp+tls",
        "EMAIL_USE_SSL": url.scheme == "smtps",
    }


_SMTP_SCHEMES = {"smtp": 25, "smtp+tls": 587, "smtps": 465}
