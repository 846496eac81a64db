import re

from django import forms

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
