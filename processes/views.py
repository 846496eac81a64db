"""A project's page (its releases × environments, Create release) and its process."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from lifecycles.progression import lifecycle_phases
from processes.models import Project
from releases import selectors
from releases.forms import ReleaseCreateForm, next_version
from releases.services import release_create
from relman.exceptions import DomainError
from relman.http import client_ip
from teams import permissions


def _visible_project(request: HttpRequest, slug: str) -> Project:
    return get_object_or_404(
        Project.objects.visible_to(request.user).select_related("group", "lifecycle"), slug=slug
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Releases × environments; POST creates a release (release creators only: the
    service refuses anyone else, with the reason)."""
    project = _visible_project(request, slug)
    environments, rows = selectors.project_release_grid(request.user, project)
    status = 200
    if request.method == "POST":
        form = ReleaseCreateForm(request.POST)
        if form.is_valid():
            try:
                release = release_create(
                    project=project,
                    version=form.cleaned_data["version"],
                    notes=form.cleaned_data["notes"],
                    actor=request.user,
                    source_ip=client_ip(request),
                )
            except DomainError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"Release {release.version} is created.")
                return redirect(release)
        status = 400
    else:
        form = ReleaseCreateForm(initial={"version": next_version(rows[0].release.version if rows else None)})
    context = {
        "title": project.name,
        "project": project,
        "environments": environments,
        "rows": rows,
        "form": form,
        "can_create_release": permissions.can_create_release(request.user, project),
    }
    return render(request, "processes/project_detail.html", context, status=status)


@login_required
@require_GET
def process_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The steps in order, with kind, responsible teams, environments and conditions, and
    the lifecycle a release of the project goes through."""
    project = _visible_project(request, slug)
    steps = project.steps.prefetch_related("responsible_teams", "environments", "excluded_environments")
    context = {
        "title": f"{project.name} process",
        "project": project,
        "steps": steps.order_by("position", "id"),
        "phases": lifecycle_phases(project.lifecycle_id),
        "can_edit_process": permissions.can_edit_process(request.user, project),
    }
    return render(request, "processes/process_detail.html", context)
