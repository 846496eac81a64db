"""Pages for releases, deployments and interventions (SPEC §4.1).

Views are thin: they find what the user may see (``visible_to``; anything else is a 404),
call a service for every change and show a refusal's message. An htmx request gets the
fragment it asked for (live regions poll every two seconds); any other request gets the
full page, or a redirect after a POST.

Live parts poll rather than stream (server-sent events): a poll is one short ordinary
request that any proxy, gunicorn sync worker and session check handle as they are, with
nothing to reconnect after a deploy or a dropped connection; an event stream would hold a
web worker per open page. Two seconds is the freshness the pages promise, and the polled
fragments are cheap (a constant number of queries, the log only ``?after`` the last line).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lifecycles.models import Environment
from lifecycles.progression import EnvironmentProgress
from processes.models import Project
from releases import selectors, services
from releases.choices import DeploymentState, Guidance, InterruptionResult
from releases.models import DashboardPreference, Deployment, DeploymentStep, Interruption, Release
from releases.selectors import DashboardDeployment
from relman.exceptions import DomainError
from relman.http import client_ip
from relman.templatetags.relman_tags import iso, relative, state_badge, state_colour
from teams import permissions
from teams.models import User

# Task log lines sent per request; a longer log arrives in further requests at once.
LOG_BATCH = 1000

# Answers that end a step badly; the page asks "are you sure?" before sending them.
CONFIRMED_ANSWERS = {InterruptionResult.ABORT, Guidance.FAIL}

ANSWER_MESSAGES = {
    InterruptionResult.PROCEED: "Proceeded with {step}.",
    InterruptionResult.ABORT: "Aborted {step}.",
    Guidance.RETRY: "Retrying {step}.",
    Guidance.IGNORE: "Ignored the failure of {step}.",
    Guidance.FAIL: "Failed {step}.",
}


# --- shared helpers -----------------------------------------------------------------------


def _ids(values: list[str]) -> list[int]:
    """The ids among query parameters; anything else is ignored."""
    return [int(v) for v in values if v.isascii() and v.isdigit()]


def _page_or_partial(request: HttpRequest, page: str, partial: str, context: dict) -> HttpResponse:
    """The partial for htmx (a live region refreshing itself), the page otherwise."""
    response = render(request, partial if request.htmx else page, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _next_url(request: HttpRequest) -> str | None:
    url = request.POST.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure()):
        return url
    return None


def _confirm_page(
    request: HttpRequest, *, title: str, question: str, accept: str, fields: dict[str, str], back: str
) -> HttpResponse:
    """The second step of a destructive action when the browser did not confirm it
    (no JavaScript): the same POST again, with ``confirmed``."""
    return render(
        request,
        "components/confirm_page.html",
        {
            "title": title,
            "question": question,
            "accept": accept,
            "action": request.path,
            "fields": {**fields, "confirmed": "1"},
            "back": back,
        },
    )


# --- dashboard ----------------------------------------------------------------------------


DEPLOYMENT_STATE_LABELS = dict(DeploymentState.choices)


class DashboardCells:
    """Writes the dashboard's cells, a row at a time.

    The grid has a cell per project and environment, thousands of them, and its live
    region asks for it again every two seconds: a template include per cell would take
    most of a second for 10,000 cells (bench/dashboard.py). The markup is the chip of
    releases/partials/_deployment_chip.html; its state badge is rendered by
    components/state_badge.html once per state, and every text is escaped here.
    """

    def __init__(self, reached: dict[int, set[int]]):
        self.reached = reached
        self.now = timezone.now()
        # Deployment.get_absolute_url without a reverse() per cell: '/deployments/'.
        self.url_prefix = reverse("releases:deployment_detail", args=[0]).removesuffix("0/")
        self.badges: dict[str, SafeString] = {}

    def badge(self, state: str) -> SafeString:
        if state not in self.badges:
            html = render_to_string("components/state_badge.html", state_badge(state, compact=True))
            self.badges[state] = mark_safe(html.strip())  # the template's own output
        return self.badges[state]

    def row(
        self, project: Project, environments: list[Environment], deployments: list[DashboardDeployment | None]
    ) -> SafeString:
        reached = self.reached[project.lifecycle_id]
        return mark_safe(
            "".join(
                self.cell(project, environment, deployment, environment.pk in reached)
                for environment, deployment in zip(environments, deployments, strict=True)
            )
        )

    def cell(
        self,
        project: Project,
        environment: Environment,
        deployment: DashboardDeployment | None,
        applies: bool,
    ) -> str:
        if deployment is None and applies:
            return EMPTY_CELL.format(environment=escape(str(environment)))
        if deployment is None:
            return NOT_IN_LIFECYCLE_CELL.format(project=escape(str(project)))
        stamp = iso(deployment.created_at)
        return CHIP_CELL.format(
            colour=state_colour(deployment.state),
            url=f"{self.url_prefix}{deployment.pk}/",
            label=escape(DEPLOYMENT_STATE_LABELS.get(deployment.state, deployment.state)),
            badge=self.badge(deployment.state),
            version=escape(deployment.version),
            stamp=stamp,
            ago=relative(deployment.created_at, self.now),
        )


# Every value put in these is escaped or comes from this code (numbers, colours, times).
EMPTY_CELL = (
    '<td class="grid__cell"><span class="muted" title="Not deployed to {environment} yet">—</span></td>'
)
NOT_IN_LIFECYCLE_CELL = '<td class="grid__cell grid__cell--na"><span class="visually-hidden">Not in {project}’s lifecycle</span></td>'
CHIP_CELL = (
    '<td class="grid__cell"><a class="chip chip--{colour}" href="{url}" title="{label}">{badge}'
    '<span class="chip__text"><span class="chip__version">{version}</span>'
    '<span class="chip__meta"><time datetime="{stamp}" title="{stamp}">{ago}</time></span>'
    "</span></a></td>"
)


# The dashboard's filters: query parameter → DashboardPreference field.
DASHBOARD_FILTERS = {"group": "group_ids", "project": "project_ids", "environment": "environment_ids"}
# More ids than any filter form sends; a longer list in a hand-made URL is cut.
MAX_FILTER_IDS = 200


def _dashboard_filters(request: HttpRequest) -> tuple[dict[str, list[int]], bool]:
    """The filters to apply and whether they are the user's remembered ones.

    Filters in the URL apply as given; on a page load they are also remembered for the
    user (DashboardPreference). A page load without any filter parameter restores the
    remembered ones. Live updates (htmx) carry their filters in the URL and neither read
    nor write the preference.
    """
    given = any(name in request.GET for name in DASHBOARD_FILTERS)
    chosen = {name: _ids(request.GET.getlist(name))[:MAX_FILTER_IDS] for name in DASHBOARD_FILTERS}
    if request.htmx:
        return chosen, False
    if given:
        DashboardPreference.objects.update_or_create(
            user=request.user,
            defaults={field: chosen[name] for name, field in DASHBOARD_FILTERS.items()},
        )
        return chosen, False
    preference = DashboardPreference.objects.filter(user=request.user).first()
    if preference is None:
        return chosen, False
    remembered = {
        name: _ids([str(v) for v in getattr(preference, field) or []])[:MAX_FILTER_IDS]
        for name, field in DASHBOARD_FILTERS.items()
    }
    return remembered, any(remembered.values())


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Project groups → projects × environments, each cell the latest deployment there.
    ``?clear=1`` forgets the user's remembered filters."""
    user = request.user
    if "clear" in request.GET:
        DashboardPreference.objects.filter(user=user).delete()
        return redirect("dashboard")
    chosen, remembered = _dashboard_filters(request)
    environments, groups = selectors.dashboard(
        user,
        group_ids=chosen["group"],
        project_ids=chosen["project"],
        environment_ids=chosen["environment"],
    )
    reached = selectors.lifecycle_environment_ids(
        {row.project.lifecycle_id for group in groups for row in group.rows}
    )
    cells = DashboardCells(reached)
    table = [
        (group.name, [(row.project, cells.row(row.project, environments, row.cells)) for row in group.rows])
        for group in groups
    ]
    query = urlencode({name: ids for name, ids in chosen.items() if ids}, doseq=True)
    context = {
        "title": "Dashboard",
        "environments": environments,
        "table": table,
        "filtered": bool(query),
        "remembered": remembered,
        # The live region asks for exactly what the page shows, remembered filters included.
        "live_url": f"{reverse('dashboard')}?{query}" if query else reverse("dashboard"),
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
    return _page_or_partial(
        request, "releases/dashboard.html", "releases/partials/_dashboard_grid.html", context
    )


# --- my tasks -----------------------------------------------------------------------------


@dataclass
class InterruptionPanel:
    """What the user may do with a pending interruption, and why not."""

    interruption: Interruption
    is_assignee: bool
    can_take: bool
    can_take_over: bool
    can_override: bool
    refusal: str


def interruption_panel(user: User, interruption: Interruption) -> InterruptionPanel:
    """Reads nothing that is not already loaded but the user's teams and grants, which
    are read once per request."""
    held_by_me = interruption.assignee_id == user.pk
    held_by_other = interruption.assignee_id is not None and not held_by_me
    refusal = "" if held_by_me else permissions.take_refusal(user, interruption) or ""
    return InterruptionPanel(
        interruption=interruption,
        is_assignee=held_by_me,
        can_take=interruption.assignee_id is None and not refusal,
        can_take_over=held_by_other and not refusal,
        can_override=user.is_superuser and bool(refusal),
        refusal=refusal,
    )


def _task_list_context(request: HttpRequest) -> dict:
    user = request.user
    panels = [interruption_panel(user, i) for i in selectors.interruption_list_actionable(user)]
    return {"title": "My tasks", "panels": panels}


@login_required
@require_GET
def interruption_list(request: HttpRequest) -> HttpResponse:
    """My tasks: the interventions waiting for the user, oldest first."""
    return _page_or_partial(
        request,
        "releases/interruption_list.html",
        "releases/partials/_interruption_list.html",
        _task_list_context(request),
    )


# --- releases -----------------------------------------------------------------------------


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
    phases = [
        (
            phase,
            [
                DeployOption(
                    env,
                    latest.get(env.environment.pk),
                    selectors.deploy_refusal(request.user, release.project, env),
                )
                for env in phase.environments
            ],
        )
        for phase in services.release_progress(release)
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
        try:
            deployment = services.deployment_create(
                release=release, environment=environment, actor=request.user, source_ip=client_ip(request)
            )
        except DomainError as exc:
            messages.error(request, str(exc))
            return redirect(release)
        messages.success(request, f"Deploying {release.project} {release.version} to {environment}.")
        return redirect(deployment)

    progress = next(
        (
            e
            for phase in services.release_progress(release)
            for e in phase.environments
            if e.environment == environment
        ),
        None,
    )
    if progress is None:
        refusal = f"{environment} is not part of the lifecycle {release.project.lifecycle}."
    else:
        refusal = selectors.deploy_refusal(request.user, release.project, progress)
    steps = release.steps.prefetch_related("responsible_teams", "environments", "excluded_environments")
    context = {
        "title": f"Deploy {release.project} {release.version} to {environment}",
        "release": release,
        "project": release.project,
        "environment": environment,
        "steps": steps.order_by("position"),
        "refusal": refusal,
        "redeploy": bool(progress and progress.reached),
    }
    return render(request, "releases/deployment_confirm.html", context)


# --- deployments --------------------------------------------------------------------------


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


def _deployment_context(request: HttpRequest, deployment: Deployment) -> dict:
    user = request.user
    steps = list(deployment.steps.select_related("release_step").order_by("position"))
    interruptions = list(
        deployment.interruptions.select_related("assignee", "submitted_by")
        .prefetch_related("responsible_teams")
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
    queued = deployment.state == DeploymentState.QUEUED
    return {
        "title": f"{deployment.project} {deployment.release.version} to {deployment.environment}",
        "deployment": deployment,
        "ahead": selectors.deployment_queue_position(deployment) if queued else None,
        "steps": [StepRow(step, latest.get(step.pk)) for step in steps],
        "panel": interruption_panel(user, pending) if pending else None,
        "can_cancel": not deployment.is_finished
        and permissions.can_deploy(user, deployment.project, deployment.environment),
    }


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
    """The deployment's state, steps and intervention panel, polled by its page."""
    deployment = _visible_deployment(request, pk)
    return render(
        request, "releases/partials/_deployment_live.html", _deployment_context(request, deployment)
    )


@login_required
@require_GET
def deployment_log(request: HttpRequest, pk: int) -> HttpResponse:
    """Task log lines after ``?after=<entry id>``, polled by the deployment's page."""
    deployment = _visible_deployment(request, pk)
    after = _ids([request.GET.get("after", "")])
    context = _log_context(deployment, after=after[0] if after else 0)
    return render(request, "releases/partials/_task_log.html", context)


def _after_action(request: HttpRequest, deployment: Deployment) -> HttpResponse:
    """POST/redirect/GET, or for htmx the region the action came from, refreshed, with
    the action's messages."""
    if not request.htmx:
        return redirect(_next_url(request) or deployment.get_absolute_url())
    if request.htmx.target == "task-list":
        template, context = "releases/partials/_interruption_list.html", _task_list_context(request)
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
            return _after_action(request, deployment)
        return _confirm_page(
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
    return _after_action(request, deployment)


# --- interruptions ------------------------------------------------------------------------


def _visible_interruption(request: HttpRequest, pk: int) -> Interruption:
    return get_object_or_404(
        Interruption.objects.visible_to(request.user).select_related(
            "deployment__release", "deployment__project", "deployment__environment", "step__release_step"
        ),
        pk=pk,
    )


@login_required
@require_POST
def interruption_take(request: HttpRequest, pk: int) -> HttpResponse:
    """Assign to me; ``take_over`` from someone else; a superuser's ``override`` with a reason."""
    interruption = _visible_interruption(request, pk)
    take_over = bool(request.POST.get("take_over"))
    override = bool(request.POST.get("override"))
    try:
        services.interruption_take(
            interruption=interruption,
            actor=request.user,
            take_over=take_over,
            override=override,
            reason=request.POST.get("reason", ""),
            source_ip=client_ip(request),
        )
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{interruption.title} is assigned to you.")
    return _after_action(request, interruption.deployment)


@login_required
@require_POST
def interruption_submit(request: HttpRequest, pk: int) -> HttpResponse:
    """Proceed or abort (a manual intervention), retry, ignore or fail (a guided failure),
    with notes. Abort and fail are sent only once confirmed."""
    interruption = _visible_interruption(request, pk)
    result = request.POST.get("result", "")
    guidance = request.POST.get("guidance", "")
    notes = request.POST.get("notes", "")
    answer = result or guidance
    if answer in CONFIRMED_ANSWERS and not request.POST.get("confirmed"):
        if request.htmx:
            messages.warning(request, f"Confirm that you want to {answer} {interruption.title} first.")
            return _after_action(request, interruption.deployment)
        fields = {
            "result": result,
            "guidance": guidance,
            "notes": notes,
            "next": request.POST.get("next", ""),
        }
        return _confirm_page(
            request,
            title=f"{answer.capitalize()} {interruption.title}",
            question=f"{answer.capitalize()} “{interruption.title}”? The step counts as failed; "
            "later steps run only if their run condition allows.",
            accept=answer.capitalize(),
            fields={name: value for name, value in fields.items() if value},
            back=interruption.deployment.get_absolute_url(),
        )
    try:
        services.interruption_submit(
            interruption=interruption,
            actor=request.user,
            result=result,
            guidance=guidance,
            notes=notes,
            source_ip=client_ip(request),
        )
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, ANSWER_MESSAGES[answer].format(step=interruption.step.name))
    return _after_action(request, interruption.deployment)
