"""What a request says about its caller, read one way everywhere."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The caller's address: the peer's, or behind a proxy (``RELMAN_BEHIND_PROXY``) the
    last address of ``X-Forwarded-For``, the one the proxy itself appended. Earlier entries
    are whatever the client sent and are never trusted. None when there is no valid one.

    The audit trail, django-axes and the API's throttling all identify a caller by it.
    """
    address = request.META.get("REMOTE_ADDR", "")
    if settings.RELMAN_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            address = forwarded.split(",")[-1]
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None
