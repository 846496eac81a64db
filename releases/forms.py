import re
import zoneinfo

from django import forms
from django.utils import timezone

from releases.services import VERSION_MAX_LENGTH

_SEMVER_CORE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class ReleaseCreateForm(forms.Form):
    """Parses the Create release form; the service (releases.services.release_create)
    checks the values, so its refusals read the same on the page and in the API."""

    version = forms.CharField(
        required=False,
        max_length=VERSION_MAX_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    notes = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Markdown.",
    )


def next_version(previous: str | None) -> str:
    """The version to suggest after ``previous``: 1.0.4 → 1.0.5; 1.0.0 for a first release."""
    if not previous:
        return "1.0.0"
    match = _SEMVER_CORE.match(previous)
    if not match:
        return ""
    major, minor, patch = (int(part) for part in match.groups())
    return f"{major}.{minor}.{patch + 1}"


class DeployForm(forms.Form):
    """The deploy page: now, later, or (a superuser) through a freeze. "Later" is a date
    and time as the browser's ``datetime-local`` input gives it, in the time zone app.js
    reports (the browser's; the site's without JavaScript); the service gets it in UTC
    and checks it."""

    queue_at = forms.DateTimeField(
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        error_messages={"invalid": "Choose a date and a time to deploy at."},
    )
    time_zone = forms.CharField(required=False, max_length=64)
    override_freeze = forms.BooleanField(required=False)
    reason = forms.CharField(required=False, max_length=2000)

    def clean(self):
        cleaned = super().clean()
        moment = cleaned.get("queue_at")
        if moment is not None:
            # The field made it aware in the site's zone; the browser meant its own.
            naive = timezone.make_naive(moment)
            cleaned["queue_at"] = timezone.make_aware(naive, _zone(cleaned.get("time_zone") or ""))
        return cleaned


def _zone(name: str) -> zoneinfo.ZoneInfo:
    """The named IANA time zone, or the site's when the name is missing or unknown."""
    try:
        return zoneinfo.ZoneInfo(name) if name else timezone.get_current_timezone()
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return timezone.get_current_timezone()
