"""A release's page and its deploy page."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from lifecycles.models import Environment
from lifecycles.progression import EnvironmentProgress
from releases import selectors, services
from releases.forms import DeployForm
from releases.models import Deployment, Release
from releases.permissions import deploy_refusal, freeze_refusal
from releases.templatetags.releases_tags import when
from relman.exceptions import DomainError
from relman.http import client_ip


@dataclass
class DeployOption:
    progress: EnvironmentProgress
    deployment: Deployment | None
    refusal: str

    @property
    def environment(self) -> Environment:
        return self.progress.environment


def _visible_release(request: HttpRequest, pk: int) -> Release:
    return get_object_or_404(
        Release.objects.visible_to(request.user).select_related(
            "project__group", "project__lifecycle", "created_by"
        ),
        pk=pk,
    )


@login_required
@require_GET
def release_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A release's notes and lifecycle progression, with Deploy buttons where allowed."""
    release = _visible_release(request, pk)
    deployments = selectors.release_deployments(request.user, release)
    latest: dict[int, Deployment] = {}
    for deployment in deployments:  # newest first
        latest.setdefault(deployment.environment_id, deployment)
    progress = selectors.release_progress(release)
    phases = [
        (
            phase,
            [
                DeployOption(
                    env,
                    latest.get(env.environment.pk),
                    str(deploy_refusal(request.user, release, env.environment, progress) or ""),
                )
                for env in phase.environments
            ],
        )
        for phase in progress
    ]
    context = {
        "title": f"{release.project} {release.version}",
        "release": release,
        "project": release.project,
        "phases": phases,
        "deployments": deployments,
    }
    return render(request, "releases/release_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def deployment_create(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: review what deploying the release to an environment will do. POST: deploy."""
    release = _visible_release(request, pk)
    slug = request.POST.get("environment") if request.method == "POST" else request.GET.get("environment")
    environment = get_object_or_404(Environment, slug=slug or "")
    if request.method == "POST":
        form = DeployForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(m for errors in form.errors.values() for m in errors))
            return redirect(f"{request.path}?environment={environment.slug}")
        options = form.cleaned_data
        try:
            deployment = services.deployment_create(
                release=release,
                environment=environment,
                actor=request.user,
                queue_at=options["queue_at"],
                override_freeze=options["override_freeze"],
                reason=options["reason"],
                source_ip=client_ip(request),
            )
        except DomainError as exc:
            messages.error(request, str(exc))
            return redirect(f"{request.path}?environment={environment.slug}")
        if deployment.queue_at:
            messages.success(
                request,
                f"{release.project} {release.version} will be deployed to {environment} at {when(deployment.queue_at)}.",
            )
        else:
            messages.success(request, f"Deploying {release.project} {release.version} to {environment}.")
        return redirect(deployment)

    progress = selectors.release_progress(release)
    refusal = deploy_refusal(request.user, release, environment, progress)
    frozen = freeze_refusal(release.project_id, environment.pk, timezone.now())
    reached = any(e.reached for phase in progress for e in phase.environments if e.environment == environment)
    steps = release.steps.prefetch_related("responsible_teams", "environments", "excluded_environments")
    context = {
        "title": f"Deploy {release.project} {release.version} to {environment}",
        "release": release,
        "project": release.project,
        "environment": environment,
        "steps": steps.order_by("position"),
        "refusal": str(refusal or ""),
        "frozen": str(frozen or ""),
        "redeploy": reached,
        "site_time_zone": timezone.get_current_timezone_name(),
    }
    return render(request, "releases/deployment_confirm.html", context)
