"""Writes for the teams app: API keys and the audit trail."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

from teams.models import ApiKey, AuditEvent, User

if TYPE_CHECKING:
    from lifecycles.models import Environment
    from processes.models import Project

API_KEY_PREFIX_LENGTH = 8
# last_used_at is written at most this often per key, so a busy pipeline does not turn
# every request into a write.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


def _hash_secret(secret: str) -> str:
    # The secret is 32 random bytes, so a fast hash is as safe as a slow one here.
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *, user: User, purpose: str = "", expires_in: timedelta | None = None, actor: User | None
) -> tuple[ApiKey, str]:
    """Creates a key for ``user`` and returns it with its full text, which is never
    stored and cannot be shown again."""
    prefix = secrets.token_hex(API_KEY_PREFIX_LENGTH // 2)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        purpose=purpose,
        prefix=prefix,
        hashed_secret=_hash_secret(secret),
        expires_at=timezone.now() + expires_in if expires_in else None,
    )
    audit_record(
        actor=actor,
        action="api_key.created",
        subject=key,
        changes={"user": user.username, "purpose": purpose, "expires_at": key.expires_at},
    )
    return key, f"rm_{prefix}_{secret}"


def api_key_authenticate(*, key: str) -> User | None:
    """The active user owning this active key, or None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "rm":
        return None
    _, prefix, secret = parts
    api_key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if api_key is None or not secrets.compare_digest(api_key.hashed_secret, _hash_secret(secret)):
        return None
    if not api_key.is_active or not api_key.user.is_active:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key.user


def api_key_revoke(*, api_key: ApiKey, actor: User | None) -> None:
    """Revokes the key at once; revoking a revoked key changes nothing."""
    if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        audit_record(actor=actor, action="api_key.revoked", subject=api_key)


def audit_record(
    *,
    actor: User | None,
    action: str,
    subject: models.Model,
    project: Project | None = None,
    environment: Environment | None = None,
    changes: dict[str, Any] | None = None,
    source_ip: str | None = None,
) -> AuditEvent:
    """Appends one event; call it inside the transaction that makes the change, so the
    event exists exactly when the change does."""
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=actor.username if actor else "system",
        action=action,
        subject_type=subject._meta.label_lower,
        subject_id=str(subject.pk),
        project=project,
        environment=environment,
        source_ip=source_ip,
        changes=_jsonable(changes or {}),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
