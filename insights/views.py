"""The Insights pages: a project's (its steps, what to automate next, how often each
environment is deployed) and the overview across every project the user sees."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from insights import rendering, selectors
from insights.forms import InsightsFilterForm
from processes.models import Project
from relman.exceptions import DomainError


@login_required
@require_GET
def project_insights(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(
        Project.objects.visible_to(request.user).select_related("group", "lifecycle"), slug=slug
    )
    environments = selectors.visible_environments(request.user, project)
    form = InsightsFilterForm(request.GET, environments=environments)
    context = {
        "title": f"Insights · {project}",
        "project": project,
        "form": form,
        "days": selectors.DEFAULT_DAYS,
    }
    if not form.is_valid():
        return render(request, "insights/project_insights.html", context, status=400)
    try:
        insights = selectors.project_insights(
            request.user, project, **form.cleaned_data, environments=environments
        )
    except DomainError as exc:
        context["error"] = str(exc)
        return render(request, "insights/project_insights.html", context, status=400)
    context.update(
        insights=insights,
        ladder=rendering.ladder_chart(insights.steps),
        human_time=rendering.human_time_chart(insights.steps),
        environments=[
            (figures, rendering.frequency_chart(figures), rendering.lead_time_chart(figures))
            for figures in insights.dora
        ],
    )
    return render(request, "insights/project_insights.html", context)


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    form = InsightsFilterForm(request.GET)
    context = {"title": "Insights", "form": form, "days": selectors.DEFAULT_DAYS}
    if not form.is_valid():
        return render(request, "insights/overview.html", context, status=400)
    context["days"] = form.cleaned_data["days"]
    context["candidates"] = selectors.overview(request.user, days=form.cleaned_data["days"])
    return render(request, "insights/overview.html", context)
