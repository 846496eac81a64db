"""Writes for the targets app: targets, their agent tokens, and what agents say about
themselves.

Targets are configuration: superusers change them (``actor=None`` is the system, e.g. the
demo data), and every change writes its audit event in the same transaction. The agent
token is made like an API key (``teams.services``): shown once, stored as a hash.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from lifecycles.models import Environment
from relman.deletion import delete_or_refuse
from relman.exceptions import InvalidInput
from relman.updates import apply_changes
from relman.validation import check_name_and_slug_free, roles_errors
from targets.choices import AGENT_TOKEN_PREFIX_LENGTH, AGENT_TOKEN_SCHEME
from targets.models import Target
from teams.audit import audit_record
from teams.models import User
from teams.permissions import require_superuser
from teams.services import hash_secret

# last_seen is written at most this often per target: an agent's output and heartbeats
# come every second or so while it runs, and status needs far less precision.
SEEN_TOUCH_INTERVAL = timedelta(seconds=5)


def _check_roles(roles: Sequence[str]) -> list[str]:
    errors = roles_errors(roles)
    if errors:
        raise InvalidInput(errors[0], code="invalid_roles")
    return list(dict.fromkeys(roles))


def _new_token() -> tuple[str, str, str]:
    """(prefix, hash of the secret, the whole token)."""
    prefix = secrets.token_hex(AGENT_TOKEN_PREFIX_LENGTH // 2)
    secret = secrets.token_urlsafe(32)
    return prefix, hash_secret(secret), f"{AGENT_TOKEN_SCHEME}_{prefix}_{secret}"


@transaction.atomic
def target_create(
    *,
    name: str,
    environments: Sequence[Environment],
    roles: Sequence[str] = (),
    slug: str = "",
    description: str = "",
    enabled: bool = True,
    actor: User | None,
    source_ip: str | None = None,
) -> tuple[Target, str]:
    """Creates a target and returns it with its agent token, which is never stored and
    cannot be shown again.

    Refuses: an actor who is not a superuser (403); an empty name, a name or slug already
    taken, no environment, a malformed role (400).
    """
    require_superuser(actor, "create targets")
    name = name.strip()
    slug = slug or slugify(name)
    check_name_and_slug_free(Target, "a target", name, slug, exclude_pk=None)
    if not environments:
        raise InvalidInput("A target serves at least one environment.", code="environments_required")
    roles = _check_roles(roles)
    prefix, token_hash, token = _new_token()
    target = Target.objects.create(
        name=name,
        slug=slug,
        description=description,
        roles=roles,
        enabled=enabled,
        token_prefix=prefix,
        token_hash=token_hash,
    )
    target.environments.set(environments)
    audit_record(
        actor=actor,
        action="target.created",
        subject=target,
        changes={
            "name": name,
            "slug": slug,
            "environments": sorted(e.slug for e in environments),
            "roles": roles,
            "enabled": enabled,
        },
        source_ip=source_ip,
    )
    return target, token


@transaction.atomic
def target_update(
    *,
    target: Target,
    name: str | None = None,
    slug: str | None = None,
    description: str | None = None,
    environments: Sequence[Environment] | None = None,
    roles: Sequence[str] | None = None,
    enabled: bool | None = None,
    actor: User | None,
    source_ip: str | None = None,
) -> Target:
    """Changes what is given (None: unchanged). A run already handed to the target's agent
    finishes; the next step looks at the target as it is then.

    Refuses: an actor who is not a superuser (403); a name or slug already taken, no
    environment, a malformed role (400).
    """
    require_superuser(actor, "change targets")
    wanted = {
        "name": name.strip() if name is not None else None,
        "slug": slug,
        "description": description,
        "roles": _check_roles(roles) if roles is not None else None,
        "enabled": enabled,
    }
    changes = apply_changes(target, wanted)
    check_name_and_slug_free(Target, "a target", target.name, target.slug, exclude_pk=target.pk)
    if changes:
        target.save(update_fields=list(changes))
    if environments is not None:
        if not environments:
            raise InvalidInput("A target serves at least one environment.", code="environments_required")
        before = sorted(target.environments.values_list("slug", flat=True))
        after = sorted(e.slug for e in environments)
        if before != after:
            target.environments.set(environments)
            changes["environments"] = [before, after]
    if changes:
        audit_record(
            actor=actor, action="target.updated", subject=target, changes=changes, source_ip=source_ip
        )
    return target


@transaction.atomic
def target_delete(*, target: Target, actor: User | None, source_ip: str | None = None) -> None:
    """Deletes a target no step run refers to.

    Refuses: an actor who is not a superuser (403); a target with runs in a deployment's
    history (409, ``in_use``): disable it instead.
    """
    require_superuser(actor, "delete targets")
    audit_record(
        actor=actor,
        action="target.deleted",
        subject=target,
        changes={"name": target.name, "slug": target.slug},
        source_ip=source_ip,
    )
    delete_or_refuse(target)


@transaction.atomic
def target_rotate_token(*, target: Target, actor: User | None, source_ip: str | None = None) -> str:
    """Gives the target a new agent token and returns it; the old one stops working at
    once (an agent holding it is refused its next request).

    Refuses: an actor who is not a superuser (403).
    """
    require_superuser(actor, "rotate agent tokens")
    target.token_prefix, target.token_hash, token = _new_token()
    target.save(update_fields=["token_prefix", "token_hash"])
    audit_record(
        actor=actor,
        action="target.token_rotated",
        subject=target,
        changes={"token_prefix": target.token_prefix},
        source_ip=source_ip,
    )
    return token


def target_authenticate(*, token: str) -> Target | None:
    """The target owning this agent token, or None (an API key is never an agent token)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != AGENT_TOKEN_SCHEME:
        return None
    _, prefix, secret = parts
    target = Target.objects.filter(token_prefix=prefix).first()
    if target is None or not secrets.compare_digest(target.token_hash, hash_secret(secret)):
        return None
    return target


def target_seen(*, target: Target, hostname: str | None = None, agent_version: str | None = None) -> None:
    """Records that the target's agent made a request (its heartbeat), and what it says
    about itself when it says it. Written at most every SEEN_TOUCH_INTERVAL unless the
    hostname or version changed."""
    now = timezone.now()
    fields: dict = {}
    if hostname is not None and hostname[:255] != target.hostname:
        fields["hostname"] = hostname[:255]
    if agent_version is not None and agent_version[:50] != target.agent_version:
        fields["agent_version"] = agent_version[:50]
    if not fields and target.last_seen and now - target.last_seen < SEEN_TOUCH_INTERVAL:
        return
    fields["last_seen"] = now
    Target.objects.filter(pk=target.pk).update(**fields)
    for name, value in fields.items():
        setattr(target, name, value)
