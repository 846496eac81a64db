"""Who may deploy a release and who may take an interruption, with the sentence that says
why not. Pages and the API show these sentences; the services enforce the same ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lifecycles import progression
from releases.models import Freeze
from relman.exceptions import Conflict, DomainError, PermissionRefused
from teams.models import team_names
from teams.permissions import can_deploy, can_view_environment_of
from teams.scoping import team_ids_of

if TYPE_CHECKING:
    from lifecycles.models import Environment
    from releases.models import Interruption, Release
    from teams.models import User


def deploy_refusal(
    user: User | None, release: Release, environment: Environment, progress: list[progression.PhaseProgress]
) -> DomainError | None:
    """Why ``user`` may not deploy the release to the environment now, or None; ``None``
    as the user is the system (a lifecycle's automatic deployment), which needs no role.

    In this order: no deployer role there (403), a disabled project, an environment the
    lifecycle does not allow yet or at all (409). ``progress`` is the release's lifecycle
    progression (``releases.selectors.release_progress``).
    """
    project = release.project
    if user is not None and not can_deploy(user, project, environment):
        return PermissionRefused(f"You need the deployer role on {project} in {environment} to deploy there.")
    if project.disabled:
        return Conflict(f"{project} is disabled; enable it before deploying.", code="project_disabled")
    refusal = progression.deploy_refusal(
        progress=progress, environment=environment, lifecycle=project.lifecycle, subject=release.subject
    )
    return Conflict(refusal, code="lifecycle") if refusal else None


def freezes_applying(project_id: int, environment_id: int, at: datetime) -> list[Freeze]:
    return list(
        Freeze.objects.applying(project_id=project_id, environment_id=environment_id, at=at).order_by(
            "end", "id"
        )
    )


def freeze_refusal(project_id: int, environment_id: int, at: datetime) -> Conflict | None:
    """Why deploying the project to the environment is refused at that moment because a
    freeze applies (409 ``frozen``, naming the freeze that ends last and its end), or None."""
    freezes = freezes_applying(project_id, environment_id, at)
    if not freezes:
        return None
    freeze = freezes[-1]
    why = f" ({freeze.reason})" if freeze.reason else ""
    return Conflict(
        f"Deployments here are frozen by {freeze.name}{why} until"
        f" {freeze.end.astimezone(UTC).strftime('%Y-%m-%d %H:%M')} UTC."
        " A superuser may deploy through the freeze with a reason.",
        code="frozen",
    )


def take_refusal(user: User, interruption: Interruption) -> str | None:
    """Why the user may not take (or submit) this interruption, or None if they may.

    Eligible: a member of one of its responsible teams who can see the project and
    environment; with no responsible team, a deployer in scope; never the deployment's
    creator when the step prevents self-approval. Superusers are not members of teams they
    do not belong to: they act outside them only by an override with a reason.
    """
    deployment = interruption.deployment
    teams = list(interruption.responsible_teams.all())
    names = team_names(teams)
    if teams:
        if not team_ids_of(user) & {t.pk for t in teams}:
            return f"Only members of {names} may take this step."
        if not can_view_environment_of(user, deployment.project, deployment.environment):
            return (
                f"You are in {names} but have no role that lets you see "
                f"{deployment.project} in {deployment.environment}."
            )
    elif not can_deploy(user, deployment.project, deployment.environment):
        return (
            f"This step has no responsible team, so only deployers of {deployment.project} "
            f"to {deployment.environment} may take it."
        )
    return self_approval_refusal(user, interruption, names=names)


def self_approval_refusal(user: User, interruption: Interruption, *, names: str | None = None) -> str | None:
    """Why the user may not take this interruption because they created its deployment and
    the step prevents self-approval, or None. No one is exempt, not even a superuser's
    override: the rule exists so that a second person looks. ``names`` are the responsible
    teams' names when the caller has already read them."""
    deployment = interruption.deployment
    if not (interruption.prevent_self_approval and deployment.created_by_id == user.pk):
        return None
    if names is None:
        teams = list(interruption.responsible_teams.all())
        names = team_names(teams) if teams else ""
    others = f"another member of {names}" if names else "another deployer"
    return f"You created this deployment and this step prevents self-approval: {others} must take it."


def can_take_interruption(user: User, interruption: Interruption) -> bool:
    return take_refusal(user, interruption) is None
