"""Writes for the teams app: API keys, users, teams and their role grants, and the audit
trail."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from relman.deletion import delete_or_refuse
from relman.exceptions import Conflict, InvalidInput
from relman.updates import apply_changes
from teams.audit import audit_record
from teams.choices import Role
from teams.models import ApiKey, RoleGrant, Team, User
from teams.permissions import require_superuser

if TYPE_CHECKING:
    from lifecycles.models import Environment
    from processes.models import Project, ProjectGroup

API_KEY_PREFIX_LENGTH = 8
# last_used_at is written at most this often per key, so a busy pipeline does not turn
# every request into a write.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    # The secret is 32 random bytes, so a fast hash is as safe as a slow one here.
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *,
    user: User,
    purpose: str = "",
    expires_in: timedelta | None = None,
    actor: User | None,
    source_ip: str | None = None,
) -> tuple[ApiKey, str]:
    """Creates a key for ``user`` and returns it with its full text, which is never
    stored and cannot be shown again."""
    prefix = secrets.token_hex(API_KEY_PREFIX_LENGTH // 2)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        purpose=purpose,
        prefix=prefix,
        hashed_secret=hash_secret(secret),
        expires_at=timezone.now() + expires_in if expires_in else None,
    )
    audit_record(
        actor=actor,
        action="api_key.created",
        subject=key,
        changes={"user": user.username, "purpose": purpose, "expires_at": key.expires_at},
        source_ip=source_ip,
    )
    return key, f"rm_{prefix}_{secret}"


def api_key_authenticate(*, key: str) -> User | None:
    """The active user owning this active key, or None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "rm":
        return None
    _, prefix, secret = parts
    api_key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if api_key is None or not secrets.compare_digest(api_key.hashed_secret, hash_secret(secret)):
        return None
    if not api_key.is_active or not api_key.user.is_active:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key.user


def api_key_revoke(*, api_key: ApiKey, actor: User | None, source_ip: str | None = None) -> None:
    """Revokes the key at once; revoking a revoked key changes nothing."""
    if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        audit_record(
            actor=actor,
            action="api_key.revoked",
            subject=api_key,
            changes={"user": api_key.user.username, "prefix": api_key.prefix},
            source_ip=source_ip,
        )


# --- users and teams ----------------------------------------------------------------------


@transaction.atomic
def user_create(
    *,
    username: str,
    display_name: str = "",
    email: str = "",
    password: str | None = None,
    actor: User | None,
    source_ip: str | None = None,
) -> User:
    """Creates an active, non-staff user. Without a password the user cannot sign in with
    one (API keys still work).

    Refuses: an actor who is not a superuser (403); a username already taken (409), a password
    the password validators reject (400).
    """
    require_superuser(actor, "create users")
    username = username.strip()
    if not username:
        raise InvalidInput("A user needs a username.", code="username_required")
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"A user named {username} already exists.", code="duplicate_username")
    user = User(username=username, display_name=display_name, email=email)
    _set_password(user, password)
    user.save()
    audit_record(
        actor=actor,
        action="user.created",
        subject=user,
        changes={"username": username, "display_name": display_name, "email": email},
        source_ip=source_ip,
    )
    return user


@transaction.atomic
def user_update(
    *,
    user: User,
    display_name: str | None = None,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    is_active: bool | None = None,
    is_staff: bool | None = None,
    is_superuser: bool | None = None,
    actor: User | None,
    source_ip: str | None = None,
) -> User:
    """Changes what is given (None: unchanged) and audits ``user.updated`` with each
    changed field as ``[old, new]``; changing nothing writes nothing.

    Refuses: an actor who is not a superuser (403).
    """
    require_superuser(actor, "change users")
    wanted = {
        "display_name": display_name,
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "is_active": is_active,
        "is_staff": is_staff,
        "is_superuser": is_superuser,
    }
    changes = apply_changes(user, wanted)
    if not changes:
        return user
    user.save(update_fields=list(changes))
    audit_record(actor=actor, action="user.updated", subject=user, changes=changes, source_ip=source_ip)
    return user


@transaction.atomic
def user_set_password(
    *, user: User, password: str | None, actor: User | None, source_ip: str | None = None
) -> User:
    """Sets the user's password, or with ``None`` removes it (the user can no longer sign
    in with one; API keys still work). The audit event ``user.password_changed`` says the
    password changed, never what it is.

    Refuses: an actor who is not a superuser (403); a password the password validators
    reject (400).
    """
    require_superuser(actor, "change passwords")
    was_usable = user.has_usable_password()
    _set_password(user, password)
    user.save(update_fields=["password"])
    changes: dict[str, Any] = {"password": "changed"}
    if was_usable != user.has_usable_password():
        changes["usable_password"] = [was_usable, user.has_usable_password()]
    audit_record(
        actor=actor, action="user.password_changed", subject=user, changes=changes, source_ip=source_ip
    )
    return user


@dataclass(frozen=True)
class RoleSpec:
    """One role grant of a team, as given to ``team_create``/``team_update``."""

    role: str
    project_groups: Sequence[ProjectGroup] = ()
    projects: Sequence[Project] = ()
    environments: Sequence[Environment] = ()


@transaction.atomic
def team_create(
    *,
    name: str,
    description: str = "",
    members: Sequence[User] = (),
    roles: Sequence[RoleSpec] = (),
    actor: User | None,
    source_ip: str | None = None,
) -> Team:
    """Creates a team with its members and role grants.

    Refuses: an actor who is not a superuser (403); a name already taken (409), an unknown role (400).
    """
    require_superuser(actor, "create teams")
    name = name.strip()
    _check_team_name(name, exclude_pk=None)
    team = Team.objects.create(name=name, description=description)
    team.members.set(members)
    _set_roles(team, roles)
    audit_record(
        actor=actor,
        action="team.created",
        subject=team,
        changes={"name": name, **_team_summary(team)},
        source_ip=source_ip,
    )
    return team


@transaction.atomic
def team_update(
    *,
    team: Team,
    name: str | None = None,
    description: str | None = None,
    members: Sequence[User] | None = None,
    roles: Sequence[RoleSpec] | None = None,
    actor: User | None,
    source_ip: str | None = None,
) -> Team:
    """Changes what is given (None: unchanged); ``members`` and ``roles`` replace the
    team's members and grants.

    Refuses: an actor who is not a superuser (403); a name already taken (409), an unknown role (400).
    """
    require_superuser(actor, "change teams")
    before = {"name": team.name, "description": team.description, **_team_summary(team)}
    fields = []
    if name is not None and name.strip() != team.name:
        team.name = name.strip()
        _check_team_name(team.name, exclude_pk=team.pk)
        fields.append("name")
    if description is not None and description != team.description:
        team.description = description
        fields.append("description")
    if fields:
        team.save(update_fields=fields)
    if members is not None:
        team.members.set(members)
    if roles is not None:
        team.roles.all().delete()
        _set_roles(team, roles)
    after = {"name": team.name, "description": team.description, **_team_summary(team)}
    changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    if changes:
        audit_record(actor=actor, action="team.updated", subject=team, changes=changes, source_ip=source_ip)
    return team


@transaction.atomic
def team_delete(*, team: Team, actor: User | None, source_ip: str | None = None) -> None:
    """Deletes a team and its grants.

    Refuses: an actor who is not a superuser (403); a team that is responsible for a step
    of a process, of a release or of an intervention (409, ``in_use``) — without it, those
    steps would be open to every deployer.
    """
    require_superuser(actor, "delete teams")
    audit_record(
        actor=actor,
        action="team.deleted",
        subject=team,
        changes={"name": team.name, **_team_summary(team)},
        source_ip=source_ip,
    )
    delete_or_refuse(team)


def _set_password(user: User, password: str | None) -> None:
    """Sets a password the validators accept (400 naming what they refuse), or none."""
    if password:
        try:
            validate_password(password, user)
        except DjangoValidationError as exc:
            raise InvalidInput(" ".join(exc.messages), code="invalid_password") from None
        user.set_password(password)
    else:
        user.set_unusable_password()


def _check_team_name(name: str, *, exclude_pk: int | None) -> None:
    if not name:
        raise InvalidInput("A team needs a name.", code="name_required")
    if Team.objects.filter(name__iexact=name).exclude(pk=exclude_pk).exists():
        raise Conflict(f"A team named {name} already exists.", code="duplicate_name")


def _set_roles(team: Team, roles: Sequence[RoleSpec]) -> None:
    for spec in roles:
        if spec.role not in Role.values:
            raise InvalidInput(
                f"Unknown role {spec.role!r}; choose one of {', '.join(Role.values)}.", code="invalid_role"
            )
        grant = RoleGrant.objects.create(team=team, role=spec.role)
        grant.project_groups.set(spec.project_groups)
        grant.projects.set(spec.projects)
        grant.environments.set(spec.environments)


def _team_summary(team: Team) -> dict[str, Any]:
    """Members and grants as plain data, for the audit trail."""
    return {
        "members": sorted(team.members.values_list("username", flat=True)),
        "roles": [
            {
                "role": grant.role,
                "project_groups": sorted(g.name for g in grant.project_groups.all()),
                "projects": sorted(p.slug for p in grant.projects.all()),
                "environments": sorted(e.slug for e in grant.environments.all()),
            }
            for grant in team.roles.prefetch_related("project_groups", "projects", "environments")
        ],
    }
