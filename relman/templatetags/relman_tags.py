"""Template helpers shared by every page: Markdown and times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from relman.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str | None) -> SafeString:
    """``{{ text|markdown }}``: user Markdown, rendered and sanitised."""
    return render_markdown(text)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def relative(moment: datetime, now: datetime | None = None) -> str:
    """'just now', '12 min ago', '3 h ago', '2 days ago'; a date beyond a month."""
    seconds = ((now or timezone.now()) - moment).total_seconds()
    if seconds < 45:
        return "just now"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours = int(minutes // 60)
    if hours < 24:
        return f"{hours} h ago"
    days = int(hours // 24)
    if days <= 30:
        return "1 day ago" if days == 1 else f"{days} days ago"
    return timezone.localtime(moment).strftime("%Y-%m-%d")


@register.simple_tag
def ago(moment: datetime | None) -> str:
    """``{% ago deployment.created_at %}``: a relative time, the exact UTC time in its title."""
    if moment is None:
        return "—"
    stamp = iso(moment)
    return format_html('<time datetime="{}" title="{}">{}</time>', stamp, stamp, relative(moment))


@register.filter
def duration(value: timedelta | None) -> str:
    """'4 s', '1 min 12 s', '2 h 5 min'."""
    if value is None:
        return "—"
    total = max(int(value.total_seconds()), 0)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


@register.filter
def clock(moment: datetime | None) -> str:
    """The task log's time column, e.g. '13:21:28', in the site's time zone."""
    if moment is None:
        return ""
    return timezone.localtime(moment).strftime("%H:%M:%S")


@register.filter
def isotime(moment: datetime | None) -> str:
    return iso(moment) if moment else ""
