from django import template

from notifications.models import EmailPreference

register = template.Library()


@register.inclusion_tag("notifications/partials/_email_preference.html")
def email_preference(person, is_self: bool) -> dict:
    """The mail preference card of /me/: a switch for oneself, the state for others."""
    enabled = not EmailPreference.objects.filter(user=person, enabled=False).exists()
    return {"person": person, "is_self": is_self, "enabled": enabled}
