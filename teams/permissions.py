"""Who may do what with projects, releases and configuration. Every page, API endpoint,
admin action and service asks these predicates, so a rule is written once; the grant
plumbing they stand on is ``teams.scoping``. Rules about one app's own objects live in
that app (who may take an interruption: ``releases.permissions``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relman.exceptions import PermissionRefused
from teams.choices import Role
from teams.scoping import has_role

if TYPE_CHECKING:
    from lifecycles.models import Environment
    from processes.models import Project
    from teams.models import User


def require_superuser(actor: User | None, what: str) -> None:
    """Refuses anyone but an active superuser (``actor=None`` is the system) to ``what``,
    e.g. "create environments"."""
    if actor is not None and not (actor.is_active and actor.is_superuser):
        raise PermissionRefused(f"Only superusers may {what}.")


def can_view_project(user: User, project: Project) -> bool:
    return has_role(user, Role.VIEWER, project)


def can_view_environment_of(user: User, project: Project, environment: Environment) -> bool:
    return has_role(user, Role.VIEWER, project, environment)


def can_create_release(user: User, project: Project) -> bool:
    return not project.disabled and has_role(user, Role.RELEASE_CREATOR, project)


def can_deploy(user: User, project: Project, environment: Environment) -> bool:
    return has_role(user, Role.DEPLOYER, project, environment)


def can_edit_process(user: User, project: Project) -> bool:
    return has_role(user, Role.PROJECT_EDITOR, project)
