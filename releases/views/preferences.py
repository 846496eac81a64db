"""The dashboard's remembered filters (DashboardPreference): the filter form's POST
remembers what it chose, its "Clear filters" button forgets it. The dashboard itself only
reads them, to restore them on a visit without filters."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from releases import services
from releases.models import DashboardPreference
from releases.views.common import ids
from teams.models import User

# The dashboard's filters: parameter → DashboardPreference field.
DASHBOARD_FILTERS = {"group": "group_ids", "project": "project_ids", "environment": "environment_ids"}
# More ids than any filter form sends; a longer list in a hand-made request is cut.
MAX_FILTER_IDS = 200

Filters = dict[str, list[int]]


def filters_from(params: QueryDict) -> Filters:
    """The filters in a query string or form; anything but ids is ignored."""
    return {name: ids(params.getlist(name))[:MAX_FILTER_IDS] for name in DASHBOARD_FILTERS}


def filters_given(params: QueryDict) -> bool:
    return any(name in params for name in DASHBOARD_FILTERS)


def remembered_filters(user: User) -> Filters | None:
    """The filters the user last chose, or None if they have none remembered."""
    preference = DashboardPreference.objects.filter(user=user).first()
    if preference is None:
        return None
    return {
        # the column holds JSON: whatever is not an id is ignored, as in a URL
        name: ids([str(v) for v in getattr(preference, field) or []])[:MAX_FILTER_IDS]
        for name, field in DASHBOARD_FILTERS.items()
    }


def dashboard_url(filters: Filters) -> str:
    """The dashboard showing these filters."""
    query = urlencode({name: chosen for name, chosen in filters.items() if chosen}, doseq=True)
    return f"{reverse('dashboard')}?{query}" if query else reverse("dashboard")


@login_required
@require_POST
def dashboard_filters(request: HttpRequest) -> HttpResponse:
    """Remembers the filters sent for the user and shows the dashboard with them; with
    ``clear``, forgets them and shows every project."""
    if "clear" in request.POST:
        services.dashboard_preference_clear(user=request.user)
        return redirect("dashboard")
    filters = filters_from(request.POST)
    services.dashboard_preference_save(
        user=request.user,
        group_ids=filters["group"],
        project_ids=filters["project"],
        environment_ids=filters["environment"],
    )
    return redirect(dashboard_url(filters))
