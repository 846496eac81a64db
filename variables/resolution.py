"""The rules of variables, as pure functions on plain values: which value of a name applies
where (``resolve``, ``ambiguities``), ``#{Name}`` substitution, the ``RELMAN_VAR_<NAME>``
environment of a script, and masking sensitive values in output (``Masker``).

Specificity: a value scoped to targets beats one scoped to roles, which beats one scoped to
environments, which beats an unscoped one; a value scoped on several of these counts each
(environment and role beats role alone). A value applies when every scope it has matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]+")
NAME_RULE = "letters, digits, '.', '_' and '-'"
NAME_MAX_LENGTH = 200
VALUE_MAX_BYTES = 64 * 1024
# Names Relman defines itself (#{Relman.Project}, ...); a variable may not take them.
RESERVED_PREFIX = "Relman."
MASK = "********"
# A line of a multi-line sensitive value is masked on its own only when it is at least this
# long: masking every short line ("}", "-----") of a key would garble the whole log.
MIN_MASKED_FRAGMENT = 4

# `##{Name}` is the literal `#{Name}`; a reference is `#{` + a valid name + `}`.
_REFERENCE = re.compile(r"(#?)#\{([A-Za-z0-9._-]+)\}")


@dataclass(frozen=True)
class Entry:
    """One value of a variable, with its scope. ``source`` names where it was defined (the
    project, or a library set) for messages."""

    name: str
    value: str
    sensitive: bool = False
    environments: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)
    targets: frozenset[str] = field(default_factory=frozenset)
    source: str = ""

    @property
    def specificity(self) -> tuple[bool, bool, bool]:
        return (bool(self.targets), bool(self.roles), bool(self.environments))

    def applies(self, context: Context) -> bool:
        return (
            (not self.environments or context.environment in self.environments)
            and (not self.roles or bool(self.roles & context.roles))
            and (not self.targets or context.target in self.targets)
        )

    def describe(self) -> str:
        """``ConnectionString (environments: production; roles: db)``, for messages."""
        scopes = [
            f"{label}: {', '.join(sorted(values))}"
            for label, values in (
                ("environments", self.environments),
                ("roles", self.roles),
                ("targets", self.targets),
            )
            if values
        ]
        where = f" in {self.source}" if self.source else ""
        return f"{self.name} ({'; '.join(scopes) or 'unscoped'}){where}"


@dataclass(frozen=True)
class Context:
    """Where a value is wanted: a deployment's environment and, for a script run on a
    target, that target and its roles."""

    environment: str
    roles: frozenset[str] = frozenset()
    target: str | None = None


def name_error(name: str) -> str | None:
    """Why ``name`` is not a valid variable name, or None."""
    if not name:
        return "A variable needs a name."
    if len(name) > NAME_MAX_LENGTH:
        return f"A variable name is at most {NAME_MAX_LENGTH} characters."
    if not NAME_PATTERN.fullmatch(name):
        return f"{name[:40]!r} is not a valid variable name: use only {NAME_RULE}."
    if name.startswith(RESERVED_PREFIX):
        return f"Names starting with {RESERVED_PREFIX!r} are Relman's own built-ins; choose another name."
    return None


def value_error(value: str) -> str | None:
    if len(value.encode()) > VALUE_MAX_BYTES:
        return f"A value is at most {VALUE_MAX_BYTES // 1024} KiB."
    return None


def _overlap(a: frozenset[str], b: frozenset[str]) -> bool:
    return not a or not b or bool(a & b)


def ambiguities(entries: Iterable[Entry]) -> list[tuple[Entry, Entry]]:
    """Pairs of values of one name, equally specific, that could both apply somewhere."""
    found = []
    listed = list(entries)
    for i, a in enumerate(listed):
        for b in listed[i + 1 :]:
            if (
                a.name == b.name
                and a.specificity == b.specificity
                and _overlap(a.environments, b.environments)
                and _overlap(a.roles, b.roles)
                and _overlap(a.targets, b.targets)
            ):
                found.append((a, b))
    return found


def resolve(entries: Iterable[Entry], context: Context) -> dict[str, Entry]:
    """The value of each name that applies in ``context``: the most specific one; between
    equally specific ones, the first listed (the project's own before its library sets')."""
    chosen: dict[str, Entry] = {}
    for entry in entries:
        if not entry.applies(context):
            continue
        held = chosen.get(entry.name)
        if held is None or entry.specificity > held.specificity:
            chosen[entry.name] = entry
    return chosen


def builtins(*, project: str, version: str, environment: str, deployment_id: int, target: str | None) -> dict:
    values = {
        "Relman.Project": project,
        "Relman.Release.Version": version,
        "Relman.Environment": environment,
        "Relman.Deployment.Id": str(deployment_id),
    }
    if target is not None:
        values["Relman.Target"] = target
    return values


def undefined(text: str, values: Mapping[str, str]) -> list[str]:
    """The names ``text`` refers to that have no value, in order of first use."""
    missing: list[str] = []
    for escape, name in _REFERENCE.findall(text):
        if not escape and name not in values and name not in missing:
            missing.append(name)
    return missing


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replaces each ``#{Name}`` by its value and each ``##{Name}`` by ``#{Name}``. A name
    without a value is left as written (check ``undefined`` first)."""

    def replace(match: re.Match) -> str:
        escape, name = match.groups()
        if escape:
            return f"#{{{name}}}"
        return values.get(name, match.group(0))

    return _REFERENCE.sub(replace, text)


def environment_name(name: str) -> str:
    """``RELMAN_VAR_<NAME>``: upper case, every character but a letter or digit as ``_``."""
    return "RELMAN_VAR_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def script_environment(resolved: Mapping[str, Entry]) -> dict[str, str]:
    return {environment_name(name): entry.value for name, entry in sorted(resolved.items())}


def shown(resolved: Mapping[str, Entry]) -> dict[str, str]:
    """The values as people may see them: sensitive ones as ``********``."""
    return {name: MASK if entry.sensitive else entry.value for name, entry in resolved.items()}


class Masker:
    """Replaces every sensitive value in a text by ``********``.

    Output reaches the log a line at a time, so a value that spans lines (a key, a
    certificate) never arrives whole: each of its lines is masked wherever it appears, on
    its own. Limits: a line of such a value shorter than ``MIN_MASKED_FRAGMENT`` characters
    (after trimming) is left alone, and a value the script itself cuts or transforms
    (prints half of it, base64-encodes it) cannot be recognised.
    """

    def __init__(self, secrets: Iterable[str]):
        needles: set[str] = set()
        for secret in secrets:
            if not secret.strip():
                continue
            needles.add(secret)
            lines = secret.splitlines()
            if len(lines) > 1:
                needles.update(line.strip() for line in lines if len(line.strip()) >= MIN_MASKED_FRAGMENT)
        # Longest first, so a value is masked whole rather than piece by piece.
        ordered = sorted(needles, key=lambda needle: (-len(needle), needle))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern else text
