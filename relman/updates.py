"""The shared first half of every ``<entity>_update`` service."""

from __future__ import annotations

from typing import Any

from django.db import models


def apply_changes(instance: models.Model, wanted: dict[str, Any]) -> dict[str, list[Any]]:
    """Sets on ``instance`` each wanted value that is given (not None) and differs from
    what it has, and returns those changes as ``{field: [old, new]}``, the audit trail's
    format. Nothing is saved: the caller checks the new values, saves
    ``update_fields=list(changes)`` and records the event."""
    changes = {
        key: [getattr(instance, key), value]
        for key, value in wanted.items()
        if value is not None and value != getattr(instance, key)
    }
    for key, (_, value) in changes.items():
        setattr(instance, key, value)
    return changes
