"""The Freezes page: when deployments are refused, and why. Changed by superusers in the
admin or the API (releases.services.freeze_*)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from releases import selectors


@login_required
@require_GET
def freeze_list(request: HttpRequest) -> HttpResponse:
    context = {"title": "Freezes", "rows": selectors.freeze_list(request.user)}
    return render(request, "releases/freeze_list.html", context)
