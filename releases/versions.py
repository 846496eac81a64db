"""Release version ordering: semantic versions sort by semver precedence, other versions
by creation time (and below every semantic version)."""

import re
from datetime import UTC

from django.utils import timezone

# ASCII only: a Unicode digit is no semver digit.
_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$",
    re.ASCII,
)
# Sorts after every encoded pre-release identifier, so 1.0.0 ranks above 1.0.0-rc.1.
_RELEASE = "~"
# Below every character an identifier may hold, so "a" < "a.b" and "a" < "a-b" as in semver.
_SEPARATOR = " "
# Above every digit, so a longer digit count ranks above a shorter one.
_LONGER = ":"


def _number(digits: str) -> str:
    """A number (no leading zeros, as semver requires) as its digit count, then its digits:
    comparing the strings compares the numbers, whatever their size, in one more character
    than the number for up to nine digits ("7" → "17", "10" → "210"). A count of ten digits
    or more is itself prefixed by one ":" per extra digit of the count ("12345678901" →
    ":1112345678901")."""
    count = str(len(digits))
    return _LONGER * (len(count) - 1) + count + digits


def version_sort_key(version: str, created_at=None) -> str:
    """A string whose ordering is the versions' precedence, for an indexed ORDER BY.

    Numbers compare as numbers (``_number``); numeric pre-release identifiers rank below
    alphanumeric ones, which start with "a", as semver says. Build metadata is ignored. The
    key adds five characters and one per identifier (three for a number of ten digits or
    more) to the version, so the longest version's key fits ``Release.sort_key``.
    """
    match = _SEMVER.match(version)
    if match is None:
        moment = (created_at or timezone.now()).astimezone(UTC)
        return f"0:{moment:%Y%m%d%H%M%S%f}"
    major, minor, patch, pre = match.groups()
    core = ".".join(_number(n) for n in (major, minor, patch))
    if pre is None:
        return f"1:{core}-{_RELEASE}"
    parts = [_number(p) if p.isdigit() else f"a{p}" for p in pre.split(".")]
    return f"1:{core}-{_SEPARATOR.join(parts)}"
