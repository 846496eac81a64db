"""A project's process page; its releases page is the releases app's (releases/views/projects.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from lifecycles.progression import lifecycle_phases
from processes.choices import AUTOMATION_LEVELS
from processes.models import Project
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
