"""Template tags of the releases pages."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from releases.models import Deployment
from releases.rendering import Chips, state_badge, state_colour

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
    )
    return mark_safe(chip)  # Chips escapes every text
