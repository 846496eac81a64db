from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lifecycles.models import Environment
from targets.models import Target


@login_required
@require_GET
def target_list(request: HttpRequest) -> HttpResponse:
    """The targets the user may see, grouped by environment (a target serving two
    environments is listed under both), with their agent's status."""
    visible = Target.objects.visible_to(request.user).prefetch_related("environments").order_by("name")
    by_environment: dict[Environment, list[Target]] = {}
    for target in visible:
        for environment in target.environments.all():
            by_environment.setdefault(environment, []).append(target)
    groups = sorted(by_environment.items(), key=lambda item: (item[0].sort_order, item[0].name))
    return render(
        request,
        "targets/target_list.html",
        {
            "title": "Targets",
            "groups": groups,
            "offline_after": settings.RELMAN_AGENT_OFFLINE_AFTER_SECONDS,
        },
    )
