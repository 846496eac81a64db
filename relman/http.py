"""What a request says about its caller, read one way everywhere; and the page that
confirms a destructive action when the browser did not."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


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


def confirm_page(
    request: HttpRequest, *, title: str, question: str, accept: str, fields: dict[str, str], back: str
) -> HttpResponse:
    """The second step of a destructive action when the browser did not confirm it
    (no JavaScript): the same POST again, with ``confirmed``."""
    return render(
        request,
        "components/confirm_page.html",
        {
            "title": title,
            "question": question,
            "accept": accept,
            "action": request.path,
            "fields": {**fields, "confirmed": "1"},
            "back": back,
        },
    )
