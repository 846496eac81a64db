"""A deployment's page, the live parts it polls (state and steps, the task log) and
cancelling it; and the answer to an action taken from a deployment or My tasks."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from releases import selectors, services
from releases.choices import RUN_UNFINISHED, DeploymentState, InterruptionType
from releases.models import Approval, Deployment, DeploymentStep, Interruption, StepRun
from releases.views.common import ids, interruption_panel, next_url, task_list_context
from releases.views.live import SHOWN, live_unchanged
from relman.exceptions import DomainError
from relman.http import client_ip, confirm_page
from teams import permissions

# Task log lines sent per request; a longer log arrives in further requests at once.
LOG_BATCH = 1000


@dataclass
class StepRow:
    step: DeploymentStep
    # The step's latest interruption, answered or not: who acted and what they wrote.
    interruption: Interruption | None


def _visible_deployment(request: HttpRequest, pk: int) -> Deployment:
    return get_object_or_404(
        Deployment.objects.visible_to(request.user).select_related(
            "release", "project", "environment", "created_by"
        ),
        pk=pk,
    )


def _deployment_context(request: HttpRequest, deployment: Deployment, version: str = "") -> dict:
    user = request.user
    # Read before the content it stands for (releases.views.live).
    version = version or selectors.deployment_version(user, deployment)
    runs = Prefetch(
        "runs", queryset=StepRun.objects.select_related("target", "requested_by").order_by("target__name")
    )
    steps = list(deployment.steps.select_related("release_step").prefetch_related(runs).order_by("position"))
    interruptions = list(
        deployment.interruptions.select_related("assignee", "submitted_by")
        .prefetch_related("responsible_teams", Prefetch("approvals", Approval.objects.select_related("user")))
        .order_by("id")
    )
    by_pk = {step.pk: step for step in steps}
    latest: dict[int, Interruption] = {}
    pending = None
    for interruption in interruptions:
        interruption.deployment = deployment
        interruption.step = by_pk[interruption.step_id]
        latest[interruption.step_id] = interruption
        if interruption.pending:
            pending = interruption
    helper = _helper(pending)
    queued = deployment.state == DeploymentState.QUEUED
    scheduled = queued and deployment.queue_at is not None
    return {
        "title": f"{deployment.project} {deployment.release.version} to {deployment.environment}",
        "deployment": deployment,
        "ahead": selectors.deployment_queue_position(deployment) if queued else None,
        "steps": [StepRow(step, latest.get(step.pk)) for step in steps],
        "panel": interruption_panel(user, pending) if pending else None,
        "helper": helper,
        "can_cancel": not deployment.is_finished
        and permissions.can_deploy(user, deployment.project, deployment.environment),
        "live_version": version,
        "scheduled": scheduled,
        # A due scheduled deployment that did not override freezes waits for these.
        "frozen_by": selectors.freezes_holding(deployment) if scheduled else [],
    }


@dataclass
class HelperPanel:
    """The waiting step's helper script: its latest runs, and whether one is unfinished."""

    runs: list[StepRun]
    running: bool


def _helper(pending: Interruption | None) -> HelperPanel | None:
    """For a manual step waiting with a helper script; its runs are prefetched."""
    if pending is None or pending.type != InterruptionType.MANUAL_INTERVENTION:
        return None
    step = pending.step
    if not step.release_step.script.strip():
        return None
    runs = [run for run in step.runs.all() if run.attempt == step.attempts]
    return HelperPanel(runs=runs, running=any(run.state in RUN_UNFINISHED for run in runs))


def _log_context(deployment: Deployment, after: int) -> dict:
    # The deployment's state was read before its log: once it is finished, every line
    # it will ever have is in this read, and the page stops asking.
    entries = list(deployment.log_entries.filter(pk__gt=after).order_by("id")[:LOG_BATCH])
    return {
        "deployment": deployment,
        "entries": entries,
        "last_id": entries[-1].pk if entries else after,
        "more": len(entries) == LOG_BATCH,
    }


@login_required
@require_GET
def deployment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The task page: steps, the pending intervention, the task log."""
    deployment = _visible_deployment(request, pk)
    context = _deployment_context(request, deployment)
    context.update(_log_context(deployment, after=0))
    return render(request, "releases/deployment_detail.html", context)


@login_required
@require_GET
def deployment_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The deployment's state, steps and intervention panel, polled by its page; "no
    content" while the version the page shows is current."""
    deployment = _visible_deployment(request, pk)
    version = selectors.deployment_version(request.user, deployment)
    if request.GET.get(SHOWN) == version:
        return live_unchanged()
    return render(
        request, "releases/partials/_deployment_live.html", _deployment_context(request, deployment, version)
    )


@login_required
@require_GET
def deployment_log(request: HttpRequest, pk: int) -> HttpResponse:
    """Task log lines after ``?after=<entry id>``, polled by the deployment's page."""
    deployment = _visible_deployment(request, pk)
    after = ids([request.GET.get("after", "")])
    context = _log_context(deployment, after=after[0] if after else 0)
    return render(request, "releases/partials/_task_log.html", context)


def after_action(request: HttpRequest, deployment: Deployment) -> HttpResponse:
    """POST/redirect/GET, or for htmx the region the action came from, refreshed, with
    the action's messages."""
    if not request.htmx:
        return redirect(next_url(request) or deployment.get_absolute_url())
    if request.htmx.target == "task-list":
        template, context = "releases/partials/_interruption_list.html", task_list_context(request)
    else:
        template = "releases/partials/_deployment_live.html"
        context = _deployment_context(request, _visible_deployment(request, deployment.pk))
    return render(request, template, {**context, "oob_messages": True})


@login_required
@require_http_methods(["GET", "POST"])
def deployment_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancels the deployment once confirmed (deployers only; the service decides)."""
    deployment = _visible_deployment(request, pk)
    if not request.POST.get("confirmed"):
        if request.htmx:
            messages.warning(request, "Confirm cancelling the deployment first.")
            return after_action(request, deployment)
        return confirm_page(
            request,
            title="Cancel deployment",
            question=f"Cancel the deployment of {deployment.release.version} to {deployment.environment}? "
            "Pending steps will not run.",
            accept="Cancel deployment",
            fields={},
            back=deployment.get_absolute_url(),
        )
    try:
        services.deployment_cancel(deployment=deployment, actor=request.user, source_ip=client_ip(request))
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The deployment is cancelled.")
    return after_action(request, deployment)
