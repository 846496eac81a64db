"""A project's page: its latest releases × the environments of its lifecycle, and the
Create release form."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from processes.models import Project
from releases import selectors
from releases.forms import ReleaseCreateForm, next_version
from releases.services import release_create
from relman.exceptions import DomainError
from relman.http import client_ip
from teams import permissions


@login_required
@require_http_methods(["GET", "POST"])
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Releases × environments; POST creates a release (release creators only: the
    service refuses anyone else, with the reason)."""
    project = get_object_or_404(
        Project.objects.visible_to(request.user).select_related("group", "lifecycle"), slug=slug
    )
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
    return render(request, "releases/project_detail.html", context, status=status)
