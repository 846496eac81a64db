"""Pages about people: what I may do (``/me/``), my API keys, and the audit trail.

Views are thin: they check who may see what (``teams.audit`` for the trail), call a
service for every change and render.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from processes.models import Project
from relman.http import client_ip, confirm_page
from teams import services
from teams.audit import audit_events_visible_to, can_read_audit_trail
from teams.choices import ROLE_IMPLIES, Role
from teams.filters import AuditEventFilter
from teams.forms import ApiKeyForm
from teams.models import AuditEvent, RoleGrant, User

AUDIT_PAGE_SIZE = 50


# --- what I may do --------------------------------------------------------------------------


@login_required
@require_GET
def me(request: HttpRequest) -> HttpResponse:
    """The user's teams and every role grant they hold, with its scope; a superuser may
    look at anyone's with ``?user=<username>``."""
    person: User = request.user
    username = request.GET.get("user", "").strip()
    if username and username != request.user.username:
        if not request.user.is_superuser:
            raise PermissionDenied("Only superusers may see another user's permissions.")
        person = get_object_or_404(User, username=username)
    grants = (
        RoleGrant.objects.filter(team__members=person)
        .select_related("team")
        .prefetch_related("project_groups", "projects", "environments")
        .order_by("team__name", "role", "id")
    )
    roles = [
        {
            "grant": grant,
            "includes": [Role(role).label for role in Role.values if role in ROLE_IMPLIES[grant.role]],
            "project_groups": list(grant.project_groups.all()),
            "projects": list(grant.projects.all()),
            "environments": list(grant.environments.all()),
        }
        for grant in grants
    ]
    context = {
        "title": "My permissions" if person == request.user else f"Permissions of {person.username}",
        "person": person,
        "is_self": person == request.user,
        "teams": person.teams.order_by("name"),
        "roles": roles,
        "reads_audit_trail": can_read_audit_trail(person),
        "users": User.objects.order_by("username") if request.user.is_superuser else None,
    }
    return render(request, "teams/me.html", context)


# --- my API keys ----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def api_key_list(request: HttpRequest) -> HttpResponse:
    """My keys, newest first, and a form for a new one. A new key's full text is on the
    response to the POST only: it is not stored, so it is never shown again."""
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        api_key, secret = services.api_key_create(
            user=request.user,
            purpose=form.cleaned_data["purpose"],
            expires_in=form.expires_in,
            actor=request.user,
            source_ip=client_ip(request),
        )
        response = render(
            request,
            "teams/api_key_created.html",
            {"title": "New API key", "api_key": api_key, "secret": secret},
        )
        add_never_cache_headers(response)
        return response
    context = {
        "title": "My API keys",
        "api_keys": request.user.api_keys.order_by("-created_at"),
        "form": form,
    }
    return render(request, "teams/api_key_list.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revokes one of my keys, after confirmation (the dialog, or a page without
    JavaScript); another user's key is a 404."""
    api_key = get_object_or_404(request.user.api_keys, pk=pk)
    back = reverse("api_key_list")
    if not request.POST.get("confirmed"):
        return confirm_page(
            request,
            title="Revoke API key",
            question=f"Revoke the key {api_key.prefix}… ({api_key.purpose or 'no purpose given'})? "
            "Anything using it stops working at once.",
            accept="Revoke",
            fields={},
            back=back,
        )
    if api_key.revoked_at is None:
        services.api_key_revoke(api_key=api_key, actor=request.user, source_ip=client_ip(request))
        messages.success(request, f"Revoked the key {api_key.prefix}….")
    else:
        messages.info(request, f"The key {api_key.prefix}… was already revoked.")
    return redirect(back)


# --- the audit trail ------------------------------------------------------------------------

CSV_COLUMNS = [
    "id",
    "sequence",
    "timestamp",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "project",
    "environment",
    "source_ip",
    "changes",
    "previous_hash",
    "hash",
]


@login_required
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    """The audit trail, newest first, filtered by actor, action, project and time, a page
    at a time; ``?format=csv`` exports every matching event. Superusers and auditors
    only; an auditor sees the events in their scope."""
    if not can_read_audit_trail(request.user):
        raise PermissionDenied("Only superusers and auditors may read the audit trail.")
    events = (
        audit_events_visible_to(request.user)
        .select_related("actor", "project", "environment")
        .order_by("-id")
    )
    filterset = AuditEventFilter(request.GET, queryset=events)
    valid = filterset.is_valid()
    matching = filterset.qs if valid else events.none()
    if request.GET.get("format") == "csv" and valid:
        return _audit_csv(matching)
    page = Paginator(matching, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    for event in page.object_list:
        event.changes_text = json.dumps(event.changes, sort_keys=True, ensure_ascii=False)
    context = {
        "title": "Audit trail",
        "filterset": filterset,
        "page": page,
        "projects": Project.objects.visible_to(request.user).order_by("name"),
    }
    return render(request, "teams/audit_list.html", context, status=200 if valid else 400)


class _Echo:
    """A file that hands back what is written to it, for streaming a CSV."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    # A spreadsheet runs a cell that starts with one of these as a formula.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _audit_rows(events: QuerySet[AuditEvent]) -> Iterable[list[str]]:
    yield CSV_COLUMNS
    for event in events.iterator(chunk_size=2000):
        yield [
            _cell(value)
            for value in (
                event.pk,
                event.sequence,
                event.timestamp.isoformat(),
                event.actor_label,
                event.action,
                event.subject_type,
                event.subject_id,
                event.project.slug if event.project else event.project_label,
                event.environment.slug if event.environment else event.environment_label,
                event.source_ip,
                json.dumps(event.changes, sort_keys=True, ensure_ascii=False),
                event.previous_hash,
                event.hash,
            )
        ]


def _audit_csv(events: QuerySet[AuditEvent]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    rows: Iterator[str] = (writer.writerow(row) for row in _audit_rows(events))
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="relman-audit-{stamp}.csv"'
    return response
