"""The home page: project groups → projects × environments, each cell the latest
deployment there. It reads only: the filters it restores are remembered by a POST
(releases.views.preferences)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from lifecycles.models import Environment
from processes.models import Project
from releases import selectors
from releases.rendering import DashboardCells
from releases.views.common import page_or_partial
from releases.views.live import SHOWN, live_unchanged, with_version
from releases.views.preferences import dashboard_url, filters_from, filters_given, remembered_filters


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Filters in the URL apply as given. A page load without any restores the user's
    remembered ones; live updates (htmx) carry their filters in the URL and never restore.

    A live update names the version of the grid it shows (``shown``); when the grid would
    be the same it gets "no content" (live_unchanged) without the grid being read. The page
    itself does not read the version, which would cost it two queries more: its first
    live update renders the grid once and carries the version from then on."""
    user = request.user
    chosen = filters_from(request.GET)
    remembered = False
    if not request.htmx and not filters_given(request.GET):
        restored = remembered_filters(user)
        if restored is not None:
            chosen, remembered = restored, any(restored.values())
    scope = {
        "group_ids": chosen["group"],
        "project_ids": chosen["project"],
        "environment_ids": chosen["environment"],
    }
    activity = None
    if request.htmx:
        shown = request.GET.get(SHOWN)
        if shown:
            version, activity = selectors.dashboard_current_version(user, **scope)
            if shown == version:
                return live_unchanged()
        else:
            activity = selectors.dashboard_activity(user, **scope)
    environments, groups = selectors.dashboard(user, **scope)
    projects = [row.project for group in groups for row in group.rows]
    reached = selectors.lifecycle_environment_ids({project.lifecycle_id for project in projects})
    frozen = selectors.frozen_now()
    cells = DashboardCells(reached, frozen)
    table = [
        (group.name, [(row.project, cells.row(row.project, environments, row.cells)) for row in group.rows])
        for group in groups
    ]
    # The live region asks for exactly what the page shows, remembered filters included.
    live_url = dashboard_url(chosen)
    if activity is not None:
        version = selectors.dashboard_version(
            user,
            activity=activity,
            projects=projects,
            environments=environments,
            reached=reached,
            frozen=frozen,
        )
        live_url = with_version(live_url, version)
    context = {
        "title": "Dashboard",
        "environments": environments,
        "table": table,
        "filtered": any(chosen.values()),
        "remembered": remembered,
        "live_url": live_url,
    }
    if not request.htmx:
        visible = list(Project.objects.visible_to(user).select_related("group").order_by("name"))
        options = {
            # the groups of the projects the user may see, without a query of their own
            "group": sorted({p.group for p in visible}, key=lambda g: (g.name, g.pk)),
            "project": visible,
            "environment": Environment.objects.all(),
        }
        context["filters"] = [
            (name, [(obj.pk, str(obj), obj.pk in chosen[name]) for obj in objects])
            for name, objects in options.items()
        ]
    return page_or_partial(
        request, "releases/dashboard.html", "releases/partials/_dashboard_grid.html", context
    )
