from functools import partial

from teams.audit import can_read_audit_trail


def navigation(request) -> dict:
    """``can_read_audit_trail`` for the navigation, evaluated only by templates that use it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"can_read_audit_trail": False}
    return {"can_read_audit_trail": partial(can_read_audit_trail, user)}
