"""A project's process page with its automation ladder, the "Paste a checklist" page and
the "Automate" action; its releases page is the releases app's (releases/views/projects.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lifecycles.progression import lifecycle_phases
from processes import services
from processes.checklist import FORMATS
from processes.choices import AUTOMATION_LEVELS
from processes.models import Project
from relman.exceptions import DomainError
from relman.http import client_ip
from teams import permissions


def _visible_project(request: HttpRequest, slug: str) -> Project:
    return get_object_or_404(
        Project.objects.visible_to(request.user).select_related("group", "lifecycle"), slug=slug
    )


@login_required
@require_GET
def process_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The steps in order, with kind, responsible teams, environments and conditions, and
    the lifecycle a release of the project goes through."""
    project = _visible_project(request, slug)
    steps = list(
        project.steps.prefetch_related("responsible_teams", "environments", "excluded_environments").order_by(
            "position", "id"
        )
    )
    numbered = list(enumerate(steps, start=1))
    context = {
        "title": f"{project.name} process",
        "project": project,
        "steps": steps,
        # Highest rung first, as a ladder is climbed.
        "ladder": [
            {
                "level": level,
                "label": label,
                "steps": [(n, s) for n, s in numbered if s.automation_level == level],
            }
            for level, label in sorted(AUTOMATION_LEVELS.items(), reverse=True)
        ],
        "phases": lifecycle_phases(project.lifecycle_id),
        "can_edit_process": permissions.can_edit_process(request.user, project),
    }
    return render(request, "processes/process_detail.html", context)


def _editable_project(request: HttpRequest, slug: str) -> Project:
    """The project, for a project editor; others who see it are refused as a 404 too, since
    they have no page to act from."""
    project = _visible_project(request, slug)
    if not permissions.can_edit_process(request.user, project):
        raise Http404
    return project


@login_required
@require_http_methods(["GET", "POST"])
def checklist_import(request: HttpRequest, slug: str) -> HttpResponse:
    """Paste a checklist, see the steps it makes and the team names nobody matched, then
    import: the process is replaced by them, as the API's import-checklist does."""
    project = _editable_project(request, slug)
    markdown = request.POST.get("markdown", "")
    create_missing_teams = request.POST.get("create_missing_teams") == "on"
    context = {
        "title": f"Paste a checklist · {project.name}",
        "project": project,
        "formats": FORMATS,
        "markdown": markdown,
        "create_missing_teams": create_missing_teams,
        "may_create_teams": request.user.is_superuser,
        "replaces": project.steps.count(),
        "preview": None,
        "error": None,
    }
    if request.method == "GET":
        return render(request, "processes/checklist_import.html", context)
    try:
        if request.POST.get("action") == "import":
            services.process_import_checklist(
                project=project,
                markdown=markdown,
                create_missing_teams=create_missing_teams,
                actor=request.user,
                source_ip=client_ip(request),
            )
            messages.success(request, "Checklist imported: new releases take these steps.")
            return redirect("processes:process_detail", slug=project.slug)
        context["preview"] = services.checklist_read(markdown=markdown)
    except DomainError as refusal:
        context["error"] = refusal.message
        return render(request, "processes/checklist_import.html", context, status=400)
    return render(request, "processes/checklist_import.html", context)


@login_required
@require_POST
def step_automate(request: HttpRequest, slug: str, position: int) -> HttpResponse:
    project = _editable_project(request, slug)
    try:
        services.step_automate(
            project=project,
            position=position,
            keep_check=request.POST.get("keep_check") == "on",
            actor=request.user,
            source_ip=client_ip(request),
        )
    except DomainError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Step {position} now runs its script by itself, in new releases.")
    return redirect("processes:process_detail", slug=project.slug)
