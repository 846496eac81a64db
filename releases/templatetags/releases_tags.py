"""Template tags of the releases pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from releases.models import Deployment
from releases.rendering import Chips, state_badge, state_colour
from relman.templatetags.relman_tags import duration, iso

register = template.Library()

# ``{% state_badge state %}`` and ``{{ state|state_colour }}``, as the chips draw them.
register.inclusion_tag("components/state_badge.html", name="state_badge")(state_badge)
register.filter("state_colour", state_colour)


@register.simple_tag
def deployment_chip(deployment: Deployment) -> SafeString:
    """``{% deployment_chip deployment %}``: the dashboard's chip (releases.rendering),
    for pages that show a deployment outside the dashboard grid."""
    chip = Chips().chip(
        pk=deployment.pk,
        state=deployment.state,
        version=deployment.release.version,
        created_at=deployment.created_at,
        queue_at=deployment.queue_at,
    )
    return mark_safe(chip)  # Chips escapes every text


@register.simple_tag
def countdown(moment: datetime) -> str:
    """``{% countdown interruption.due_at %}``: the time left until then ("4 min 59 s"),
    which app.js counts down between the live region's refreshes."""
    left = duration(max(moment - timezone.now(), timedelta(0)))
    return format_html('<span data-counts-down-to="{}" title="{}">{}</span>', iso(moment), iso(moment), left)


@register.filter
def when(moment: datetime | None) -> str:
    """'2026-12-24 20:00 CET': a date and time in the site's time zone, named."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z") if moment else ""
