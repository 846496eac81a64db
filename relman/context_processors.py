from functools import partial

from releases.selectors import attention_count
from teams.audit import can_read_audit_trail


def attention(request) -> dict:
    """``attention_count``: how many interventions wait for the signed-in user, for the
    badge every page shows; ``can_read_audit_trail`` for the navigation (evaluated only by
    templates that use it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"attention_count": 0, "can_read_audit_trail": False}
    return {
        "attention_count": attention_count(user),
        "can_read_audit_trail": partial(can_read_audit_trail, user),
    }
