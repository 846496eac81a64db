"""Release version ordering: semantic versions sort by semver precedence, other versions
by creation time (and below every semantic version)."""

import re
from datetime import UTC

from django.utils import timezone

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$"
)
# Sorts after every encoded pre-release identifier, so 1.0.0 ranks above 1.0.0-rc.1.
_RELEASE = "~"
# Below every character an identifier may hold, so "a" < "a.b" and "a" < "a-b" as in semver.
_SEPARATOR = " "


def version_sort_key(version: str, created_at=None) -> str:
    """A string whose ordering is the versions' precedence, for an indexed ORDER BY.

    Numbers are zero-padded so they compare as numbers; numeric pre-release identifiers
    rank below alphanumeric ones, as semver says. Build metadata is ignored.
    """
    match = _SEMVER.match(version)
    if match is None:
        moment = (created_at or timezone.now()).astimezone(UTC)
        return f"0:{moment:%Y%m%d%H%M%S%f}"
    major, minor, patch, pre = match.groups()
    core = ".".join(f"{int(n):010d}" for n in (major, minor, patch))
    if pre is None:
        return f"1:{core}-{_RELEASE}"
    # Numeric identifiers are padded digits, alphanumeric ones start with "a": numbers rank lower.
    parts = [f"{int(p):010d}" if p.isdigit() else f"a{p}" for p in pre.split(".")]
    return f"1:{core}-{_SEPARATOR.join(parts)}"
