"""What the releases pages share: the htmx page-or-fragment answer, the second step of a
destructive action, the intervention panel and My tasks' content (which an answer's htmx
request refreshes too)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme

from releases import selectors
from releases.filters import MAX_ID
from releases.models import Approval, Interruption
from releases.permissions import self_approval_refusal, take_refusal
from teams.models import User

_MAX_ID_DIGITS = len(str(MAX_ID))


def ids(values: list[str]) -> list[int]:
    """The ids among query parameters; anything else, including a number no id can be, is
    ignored. The length is checked before ``int()``, which refuses more than 4,300 digits."""
    return [
        int(v)
        for v in values
        if v.isascii() and v.isdigit() and len(v) <= _MAX_ID_DIGITS and int(v) <= MAX_ID
    ]


def page_or_partial(request: HttpRequest, page: str, partial: str, context: dict) -> HttpResponse:
    """The partial for htmx (a live region refreshing itself), the page otherwise."""
    response = render(request, partial if request.htmx else page, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def next_url(request: HttpRequest) -> str | None:
    """The POST's ``next``, if it is a page of this site."""
    url = request.POST.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure()):
        return url
    return None


@dataclass
class InterruptionPanel:
    """What the user may do with a pending interruption, and why not."""

    interruption: Interruption
    is_assignee: bool
    can_take: bool
    can_take_over: bool
    can_override: bool
    refusal: str
    # A quorum is answered by each eligible person without a take: whether the user may
    # still, and their answer once given.
    can_approve: bool = False
    answered: Approval | None = None


def interruption_panel(user: User, interruption: Interruption) -> InterruptionPanel:
    """Reads nothing that is not already loaded (a quorum's answers are prefetched) but
    the user's teams and grants, which are read once per request."""
    if interruption.is_quorum:
        refusal = take_refusal(user, interruption) or ""
        mine = next((a for a in interruption.approvals.all() if a.user_id == user.pk), None)
        return InterruptionPanel(
            interruption=interruption,
            is_assignee=False,
            can_take=False,
            can_take_over=False,
            can_override=False,
            refusal="" if mine else refusal,
            can_approve=not refusal and mine is None,
            answered=mine,
        )
    held_by_me = interruption.assignee_id == user.pk
    held_by_other = interruption.assignee_id is not None and not held_by_me
    refusal = "" if held_by_me else take_refusal(user, interruption) or ""
    # An override passes over the teams, never over prevent self-approval.
    may_override = user.is_superuser and bool(refusal) and self_approval_refusal(user, interruption) is None
    return InterruptionPanel(
        interruption=interruption,
        is_assignee=held_by_me,
        can_take=interruption.assignee_id is None and not refusal,
        can_take_over=held_by_other and not refusal,
        can_override=may_override,
        refusal=refusal,
    )


def task_list_context(request: HttpRequest) -> dict:
    """My tasks: a panel per intervention waiting for the user."""
    user = request.user
    panels = [interruption_panel(user, i) for i in selectors.interruption_list_actionable(user)]
    return {"title": "My tasks", "panels": panels}
