"""My tasks, and the answers to an intervention: take it, then proceed, abort, retry,
ignore or fail."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from releases import selectors, services
from releases.choices import Guidance, InterruptionResult
from releases.models import Interruption
from releases.views.common import page_or_partial, task_list_context
from releases.views.deployments import after_action
from releases.views.live import SHOWN, live_unchanged
from relman.exceptions import DomainError
from relman.http import client_ip, confirm_page

# Answers that end a step badly; the page asks "are you sure?" before sending them.
CONFIRMED_ANSWERS = {InterruptionResult.ABORT, Guidance.FAIL}

ANSWER_MESSAGES = {
    InterruptionResult.PROCEED: "Proceeded with {step}.",
    InterruptionResult.ABORT: "Aborted {step}.",
    Guidance.RETRY: "Retrying {step}.",
    Guidance.IGNORE: "Ignored the failure of {step}.",
    Guidance.FAIL: "Failed {step}.",
}


@login_required
@require_GET
def interruption_list(request: HttpRequest) -> HttpResponse:
    """My tasks: the interventions waiting for the user, oldest first; for a poll whose
    list is unchanged, "no content" after one query (releases.views.live)."""
    shown = request.GET.get(SHOWN) if request.htmx else None
    if shown and shown == selectors.interruption_list_version(request.user):
        return live_unchanged()
    context = task_list_context(request)
    # The version of the very rows shown, so it costs no query of its own.
    interruptions = [panel.interruption for panel in context["panels"]]
    context["live_version"] = selectors.interruption_list_version(request.user, interruptions)
    return page_or_partial(
        request, "releases/interruption_list.html", "releases/partials/_interruption_list.html", context
    )


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
    return after_action(request, interruption.deployment)


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
            return after_action(request, interruption.deployment)
        fields = {
            "result": result,
            "guidance": guidance,
            "notes": notes,
            "next": request.POST.get("next", ""),
        }
        return confirm_page(
            request,
            title=f"{answer.capitalize()} {interruption.title}",
            question=f"{answer.capitalize()} “{interruption.title}”? The step counts as failed; "
            "later steps run only if their run condition allows.",
            accept=answer.capitalize(),
            fields={name: value for name, value in fields.items() if value},
            back=interruption.deployment.get_absolute_url(),
        )
    try:
        answered = services.interruption_submit(
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
        if answered.pending:  # a quorum still short of approvals
            given = answered.approvals.filter(result=answer).count()
            message = (
                f"Approved {interruption.step.name}: {given} of {answered.required_approvals} approvals."
            )
        else:
            message = ANSWER_MESSAGES[answer].format(step=interruption.step.name)
        messages.success(request, message)
    return after_action(request, interruption.deployment)


@login_required
@require_POST
def interruption_run_helper(request: HttpRequest, pk: int) -> HttpResponse:
    """Run helper script: the assignee runs the waiting step's script; its output is
    offered as the notes when it ends."""
    interruption = _visible_interruption(request, pk)
    try:
        runs = services.interruption_run_helper(
            interruption=interruption, actor=request.user, source_ip=client_ip(request)
        )
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        where = ", ".join(run.where for run in runs)
        messages.success(
            request,
            f"The helper script of {interruption.step.name} is running on {where}; its output follows.",
        )
    return after_action(request, interruption.deployment)


@login_required
@require_POST
def interruption_stop_helper(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop the waiting step's running helper script."""
    interruption = _visible_interruption(request, pk)
    try:
        services.interruption_stop_helper(
            interruption=interruption, actor=request.user, source_ip=client_ip(request)
        )
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Stopping the helper script of {interruption.step.name}.")
    return after_action(request, interruption.deployment)
