from django import template

from insights.selectors import format_duration

register = template.Library()


@register.filter
def seconds(value: int | None) -> str:
    """A figure in seconds as a person reads it ('2 h 5 min'); '—' when nothing was measured."""
    return "—" if value is None else format_duration(value)
