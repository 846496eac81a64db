"""Every change to variables: a project's values and the library sets it includes, library
sets, and the snapshot a release takes. Each checks the actor, validates the whole set of
values (names, sizes, scopes, ambiguity), writes and records one audit event that says a
sensitive value changed, never what it is."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction

from lifecycles.models import Environment
from processes.models import Project
from relman import crypto
from relman.deletion import delete_or_refuse
from relman.exceptions import Conflict, InvalidInput, PermissionRefused
from targets.models import Target
from teams.audit import audit_record
from teams.choices import Role
from teams.models import User
from teams.permissions import require_superuser
from teams.scoping import has_role
from variables import resolution, selectors
from variables.models import (
    LibraryVariableSet,
    ProjectLibrarySet,
    ReleaseSnapshot,
    Variable,
    VariableEnvironment,
)

SCOPE_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,100}")
SET_NAME_MAX_LENGTH = 100
SENSITIVE_SHOWN = "(sensitive)"


@dataclass(frozen=True)
class VariableSpec:
    """One value as a page or the API gives it. ``value=None`` on a sensitive value keeps
    the stored one: the one with ``keep`` as id, or else with the same name and scope."""

    name: str
    value: str | None
    sensitive: bool = False
    environments: Sequence[Environment] = ()
    roles: Sequence[str] = ()
    targets: Sequence[str] = ()
    keep: int | None = None
    scope_key: tuple = field(init=False, compare=False)

    def __post_init__(self):
        key = (
            self.name,
            frozenset(e.pk for e in self.environments),
            frozenset(self.roles),
            frozenset(self.targets),
        )
        object.__setattr__(self, "scope_key", key)


def can_edit_variables(user: User, project: Project) -> bool:
    return has_role(user, Role.PROJECT_EDITOR, project)


@transaction.atomic
def project_variables_replace(
    *,
    project: Project,
    variables: Sequence[VariableSpec],
    library_sets: Sequence[LibraryVariableSet],
    actor: User | None,
    source_ip: str | None = None,
) -> None:
    """Replaces the project's values and the library sets it includes (in that order of
    precedence). Releases already created keep their snapshot.

    Refuses: an actor without the project editor role on the project (403); a bad name,
    an overlong value, an unknown scope, a sensitive value to keep that is not stored, two
    equally specific values of one name that could both apply, a set included twice (400).
    """
    if actor is not None and not can_edit_variables(actor, project):
        raise PermissionRefused(f"You need the project editor role on {project} to change its variables.")
    set_ids = [s.pk for s in library_sets]
    duplicate = next((s for i, s in enumerate(library_sets) if s.pk in set_ids[:i]), None)
    if duplicate is not None:
        raise InvalidInput(
            f"{project} includes the library set {duplicate} twice.", code="duplicate_library_set"
        )
    changes = _replace(project, {"project": project}, variables)
    before = [s.name for s in selectors.included_sets(project)]
    if before != [s.name for s in library_sets]:
        ProjectLibrarySet.objects.filter(project=project).delete()
        ProjectLibrarySet.objects.bulk_create(
            ProjectLibrarySet(project=project, library_set=s, position=i) for i, s in enumerate(library_sets)
        )
        changes["library_sets"] = [before, [s.name for s in library_sets]]
    if changes:
        audit_record(
            actor=actor,
            action="variables.updated",
            subject=project,
            project=project,
            changes=changes,
            source_ip=source_ip,
        )


@transaction.atomic
def library_set_create(
    *,
    name: str,
    description: str = "",
    variables: Sequence[VariableSpec] = (),
    actor: User | None,
    source_ip: str | None = None,
) -> LibraryVariableSet:
    """Refuses: a non-superuser (403); an empty, overlong or taken name, bad values (400)."""
    require_superuser(actor, "create library variable sets")
    library_set = LibraryVariableSet.objects.create(name=_set_name(name), description=description)
    changes = {"name": library_set.name, **_replace(library_set, {"library_set": library_set}, variables)}
    audit_record(
        actor=actor, action="library_set.created", subject=library_set, changes=changes, source_ip=source_ip
    )
    return library_set


@transaction.atomic
def library_set_update(
    *,
    library_set: LibraryVariableSet,
    name: str,
    description: str = "",
    variables: Sequence[VariableSpec],
    actor: User | None,
    source_ip: str | None = None,
) -> LibraryVariableSet:
    """Replaces the set's name, description and values; projects including it deploy the
    new values from their next release. Refuses as ``library_set_create``."""
    require_superuser(actor, "change library variable sets")
    name = _set_name(name, library_set)
    changes = {
        field: [getattr(library_set, field), new]
        for field, new in (("name", name), ("description", description))
        if getattr(library_set, field) != new
    }
    library_set.name, library_set.description = name, description
    library_set.save()
    changes.update(_replace(library_set, {"library_set": library_set}, variables))
    if changes:
        audit_record(
            actor=actor,
            action="library_set.updated",
            subject=library_set,
            changes=changes,
            source_ip=source_ip,
        )
    return library_set


@transaction.atomic
def library_set_delete(
    *, library_set: LibraryVariableSet, actor: User | None, source_ip: str | None = None
) -> None:
    """Refuses: a non-superuser (403); a set that projects include (409 ``in_use``, naming
    them)."""
    require_superuser(actor, "delete library variable sets")
    audit_record(
        actor=actor,
        action="library_set.deleted",
        subject=library_set,
        changes={"name": library_set.name},
        source_ip=source_ip,
    )
    delete_or_refuse(library_set)


def release_snapshot(release) -> None:
    """Copies the project's variables into the new release (``releases.services.release_create``
    calls it in its transaction)."""
    ReleaseSnapshot.objects.create(release=release, variables=selectors.snapshot_items(release.project))


# --- the shared rules -------------------------------------------------------------------


def _set_name(name: str, library_set: LibraryVariableSet | None = None) -> str:
    name = (name or "").strip()
    if not name or len(name) > SET_NAME_MAX_LENGTH:
        raise InvalidInput(
            f"A library variable set needs a name of at most {SET_NAME_MAX_LENGTH} characters.",
            code="invalid_name",
        )
    taken = LibraryVariableSet.objects.filter(name=name)
    if library_set is not None:
        taken = taken.exclude(pk=library_set.pk)
    if taken.exists():
        raise Conflict(f"There is already a library variable set named {name}.", code="duplicate_name")
    return name


def _replace(owner, where: dict, specs: Sequence[VariableSpec]) -> dict:
    """Replaces the owner's values with ``specs`` after checking them all; returns the
    audit changes, by value, with every sensitive value shown as ``(sensitive)``."""
    existing = selectors.owned_by(**where)
    plain = [_plain_value(index, spec, existing) for index, spec in enumerate(specs, start=1)]
    entries = [
        _checked(index, spec, value)
        for index, (spec, value) in enumerate(zip(specs, plain, strict=True), start=1)
    ]
    _check_targets_exist(specs)
    pairs = resolution.ambiguities(entries)
    if pairs:
        a, b = pairs[0]
        raise InvalidInput(
            f"{a.describe()} and {b.describe()} are equally specific and could both apply; "
            "narrow the scope of one of them or remove it.",
            code="ambiguous_variable",
        )
    before = {v.entry(plain=False).describe(): v for v in existing}
    Variable.objects.filter(pk__in=[v.pk for v in existing]).delete()
    changes: dict[str, list] = {}
    after: set[str] = set()
    for spec, value, entry in zip(specs, plain, entries, strict=True):
        variable = Variable.objects.create(
            **where,
            name=spec.name,
            sensitive=spec.sensitive,
            value="" if spec.sensitive else value,
            ciphertext=crypto.encrypt(value) if spec.sensitive else "",
            roles=sorted(set(spec.roles)),
            targets=sorted(set(spec.targets)),
        )
        VariableEnvironment.objects.bulk_create(
            VariableEnvironment(variable=variable, environment=e) for e in set(spec.environments)
        )
        label = entry.describe()
        after.add(label)
        old = before.get(label)
        old_shown = None if old is None else _shown(old.sensitive, old.value)
        new_shown = _shown(spec.sensitive, value)
        kept = old is None or not (old.sensitive and spec.sensitive) or old.plain_value() == value
        if not kept:
            new_shown = f"{SENSITIVE_SHOWN} changed"
        if old_shown != new_shown:
            changes[label] = [old_shown, new_shown]
    for label, old in before.items():
        if label not in after:
            changes[label] = [_shown(old.sensitive, old.value), None]
    return changes


def _plain_value(index: int, spec: VariableSpec, existing: list[Variable]) -> str:
    if spec.value is not None:
        return spec.value
    kept = next(
        (
            v
            for v in existing
            if v.sensitive and (v.pk == spec.keep if spec.keep is not None else _key(v) == spec.scope_key)
        ),
        None,
    )
    if not spec.sensitive or kept is None:
        raise InvalidInput(
            f"Variable {index} ({spec.name}): give a value; only a sensitive value already stored "
            "with this name and scope may be kept by leaving it out.",
            code="value_required",
        )
    return kept.plain_value()


def _key(variable: Variable) -> tuple:
    return (
        variable.name,
        frozenset(e.pk for e in variable.environments.all()),
        frozenset(variable.roles),
        frozenset(variable.targets),
    )


def _check_targets_exist(specs: Sequence[VariableSpec]) -> None:
    wanted = {slug for spec in specs for slug in spec.targets}
    known = set(Target.objects.filter(slug__in=wanted).values_list("slug", flat=True))
    for index, spec in enumerate(specs, start=1):
        unknown = sorted(set(spec.targets) - known)
        if unknown:
            raise InvalidInput(
                f"Variable {index} ({spec.name[:40]}): no target has the slug {unknown[0]!r}.",
                code="invalid_variable",
            )


def _checked(index: int, spec: VariableSpec, value: str) -> resolution.Entry:
    problem = resolution.name_error(spec.name) or resolution.value_error(value)
    for kind, values in (("role", spec.roles), ("target", spec.targets)):
        bad = next((v for v in values if not isinstance(v, str) or not SCOPE_PATTERN.fullmatch(v)), None)
        if bad is not None:
            problem = problem or (f"{bad!r} is not a valid {kind}: at most 100 of {resolution.NAME_RULE}.")
    if problem:
        raise InvalidInput(f"Variable {index} ({spec.name[:40]}): {problem}", code="invalid_variable")
    return resolution.Entry(
        name=spec.name,
        value=value,
        sensitive=spec.sensitive,
        environments=frozenset(e.slug for e in spec.environments),
        roles=frozenset(spec.roles),
        targets=frozenset(spec.targets),
    )


def _shown(sensitive: bool, value: str) -> str:
    return SENSITIVE_SHOWN if sensitive else value


@transaction.atomic
def encryption_key_rotate() -> tuple[int, int]:
    """Re-encrypts every sensitive value (of variables and of release snapshots) with the
    current RELMAN_ENCRYPTION_KEY; returns how many values and snapshots it rewrote. Run
    with the previous keys in RELMAN_ENCRYPTION_OLD_KEYS; safe to run again."""
    variables = list(Variable.objects.select_for_update().filter(sensitive=True))
    for variable in variables:
        variable.ciphertext = crypto.rotate(variable.ciphertext)
    Variable.objects.bulk_update(variables, ["ciphertext"], batch_size=500)
    snapshots = [
        s for s in ReleaseSnapshot.objects.select_for_update() if any(i["sensitive"] for i in s.variables)
    ]
    for snapshot in snapshots:
        for item in snapshot.variables:
            if item["sensitive"]:
                item["ciphertext"] = crypto.rotate(item["ciphertext"])
    ReleaseSnapshot.objects.bulk_update(snapshots, ["variables"], batch_size=500)
    return len(variables), len(snapshots)
