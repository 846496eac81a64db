from releases.selectors import attention_count


def attention(request) -> dict:
    """``attention_count``: how many interventions wait for the signed-in user, for the
    badge every page shows."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"attention_count": 0}
    return {"attention_count": attention_count(user)}
