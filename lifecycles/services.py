"""Writes for the lifecycles app: environments and lifecycles with their phases.

Configuration is changed by superusers (``actor=None`` is the system, e.g. the demo
data); every change writes its audit event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.text import slugify

from lifecycles.choices import PhaseRule
from lifecycles.models import Environment, Lifecycle, Phase, PhaseEnvironment
from relman.deletion import delete_or_refuse
from relman.exceptions import Conflict, InvalidInput
from relman.updates import apply_changes
from relman.validation import check_name_and_slug_free
from teams.audit import audit_record
from teams.models import User
from teams.permissions import require_superuser

# --- environments -----------------------------------------------------------------------


@transaction.atomic
def environment_create(
    *,
    name: str,
    slug: str = "",
    description: str = "",
    sort_order: int = 0,
    actor: User | None,
    source_ip: str | None = None,
) -> Environment:
    """Creates an environment; without a slug, one is made from the name.

    Refuses: an actor who is not a superuser (403); an empty name (400), a name or slug already
    taken (409).
    """
    require_superuser(actor, "create environments")
    name = name.strip()
    slug = slug or slugify(name)
    check_name_and_slug_free(Environment, "an environment", name, slug, exclude_pk=None)
    environment = Environment.objects.create(
        name=name, slug=slug, description=description, sort_order=sort_order
    )
    audit_record(
        actor=actor,
        action="environment.created",
        subject=environment,
        environment=environment,
        changes={"name": name, "slug": slug, "description": description, "sort_order": sort_order},
        source_ip=source_ip,
    )
    return environment


@transaction.atomic
def environment_update(
    *,
    environment: Environment,
    name: str | None = None,
    slug: str | None = None,
    description: str | None = None,
    sort_order: int | None = None,
    actor: User | None,
    source_ip: str | None = None,
) -> Environment:
    """Changes what is given (None: unchanged).

    Refuses: an actor who is not a superuser (403); a name or slug already taken (409).
    """
    require_superuser(actor, "change environments")
    wanted = {"name": name, "slug": slug, "description": description, "sort_order": sort_order}
    changes = apply_changes(environment, wanted)
    if not changes:
        return environment
    check_name_and_slug_free(
        Environment, "an environment", environment.name, environment.slug, exclude_pk=environment.pk
    )
    environment.save(update_fields=list(changes))
    audit_record(
        actor=actor,
        action="environment.updated",
        subject=environment,
        environment=environment,
        changes=changes,
        source_ip=source_ip,
    )
    return environment


@transaction.atomic
def environment_delete(*, environment: Environment, actor: User | None, source_ip: str | None = None) -> None:
    """Deletes an environment nothing refers to.

    Refuses: an actor who is not a superuser (403); an environment in use by a lifecycle,
    a deployment, a process or release step, or a role grant (409, ``in_use``) — removing
    it from a grant or a step would silently widen them to every environment.
    """
    require_superuser(actor, "delete environments")
    audit_record(
        actor=actor,
        action="environment.deleted",
        subject=environment,
        changes={"name": environment.name, "slug": environment.slug},
        source_ip=source_ip,
    )
    delete_or_refuse(environment)


# --- lifecycles -------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseEnvironmentSpec:
    environment: Environment
    automatic: bool = False


@dataclass(frozen=True)
class PhaseSpec:
    """One phase of a lifecycle, as given to ``lifecycle_create``/``lifecycle_update``."""

    name: str
    environments: Sequence[PhaseEnvironmentSpec] = field(default_factory=tuple)
    rule: str = PhaseRule.ALL
    minimum: int | None = None


def lifecycle_phase_errors(phases: Sequence[PhaseSpec]) -> dict[int, dict[str, list[str]]]:
    """What is wrong with these phases, by phase index and field (empty: nothing).

    A phase name is used once; an environment belongs to at most one phase; the
    ``minimum`` rule needs a minimum between 1 and the phase's number of environments,
    and the other rules take none.
    """
    errors: dict[int, dict[str, list[str]]] = {}

    def add(index: int, field_name: str, message: str) -> None:
        errors.setdefault(index, {}).setdefault(field_name, []).append(message)

    names: set[str] = set()
    placed: dict[int, str] = {}
    for index, phase in enumerate(phases):
        name = phase.name.strip()
        if not name:
            add(index, "name", "A phase needs a name.")
        elif name.lower() in names:
            add(index, "name", f"Another phase is already named {name}.")
        else:
            names.add(name.lower())
        for pe in phase.environments:
            env = pe.environment
            if env.pk in placed:
                add(
                    index,
                    "environments",
                    f"{env} is already in phase {placed[env.pk]}; an environment belongs to at most "
                    "one phase of a lifecycle.",
                )
            else:
                placed[env.pk] = name
        if phase.rule not in PhaseRule.values:
            add(index, "rule", f"Unknown rule {phase.rule!r}; choose one of {', '.join(PhaseRule.values)}.")
        elif phase.rule == PhaseRule.MINIMUM:
            count = len(phase.environments)
            if phase.minimum is None:
                add(index, "minimum", "The minimum rule needs a minimum number of environments.")
            elif not 1 <= phase.minimum <= count:
                add(
                    index,
                    "minimum",
                    f"The minimum must be between 1 and the phase's {count} environment"
                    f"{'s' if count != 1 else ''}; got {phase.minimum}.",
                )
        elif phase.minimum is not None:
            add(index, "minimum", f"A minimum applies only to the minimum rule, not {phase.rule}.")
    return errors


@transaction.atomic
def lifecycle_create(
    *,
    name: str,
    description: str = "",
    phases: Sequence[PhaseSpec] = (),
    actor: User | None,
    source_ip: str | None = None,
) -> Lifecycle:
    """Creates a lifecycle with its phases in the order given.

    Refuses: an actor who is not a superuser (403); a name already taken (409), or phases that
    ``lifecycle_phase_errors`` rejects (400).
    """
    require_superuser(actor, "create lifecycles")
    name = name.strip()
    _check_lifecycle_name(name, exclude_pk=None)
    _check_phases(phases)
    lifecycle = Lifecycle.objects.create(name=name, description=description)
    _set_phases(lifecycle, phases)
    audit_record(
        actor=actor,
        action="lifecycle.created",
        subject=lifecycle,
        changes={"name": name, "description": description, "phases": lifecycle_summary(lifecycle)},
        source_ip=source_ip,
    )
    return lifecycle


@transaction.atomic
def lifecycle_update(
    *,
    lifecycle: Lifecycle,
    name: str | None = None,
    description: str | None = None,
    phases: Sequence[PhaseSpec] | None = None,
    actor: User | None,
    source_ip: str | None = None,
) -> Lifecycle:
    """Changes what is given (None: unchanged); ``phases`` replaces every phase. Projects
    read their lifecycle live, so existing releases follow the new phases from now on;
    deployments that happened stay.

    Refuses: an actor who is not a superuser (403); a name already taken (409), or phases that
    ``lifecycle_phase_errors`` rejects (400).
    """
    require_superuser(actor, "change lifecycles")
    changes: dict[str, list] = {}
    fields = []
    if name is not None and name.strip() != lifecycle.name:
        _check_lifecycle_name(name.strip(), exclude_pk=lifecycle.pk)
        changes["name"] = [lifecycle.name, name.strip()]
        lifecycle.name = name.strip()
        fields.append("name")
    if description is not None and description != lifecycle.description:
        changes["description"] = [lifecycle.description, description]
        lifecycle.description = description
        fields.append("description")
    if fields:
        lifecycle.save(update_fields=fields)
    if phases is not None:
        _check_phases(phases)
        before = lifecycle_summary(lifecycle)
        lifecycle.phases.all().delete()
        _set_phases(lifecycle, phases)
        after = lifecycle_summary(lifecycle)
        if before != after:
            changes["phases"] = [before, after]
    if changes:
        audit_record(
            actor=actor, action="lifecycle.updated", subject=lifecycle, changes=changes, source_ip=source_ip
        )
    return lifecycle


@transaction.atomic
def lifecycle_delete(*, lifecycle: Lifecycle, actor: User | None, source_ip: str | None = None) -> None:
    """Deletes a lifecycle and its phases.

    Refuses: an actor who is not a superuser (403); a lifecycle a project uses (409,
    ``in_use``).
    """
    require_superuser(actor, "delete lifecycles")
    audit_record(
        actor=actor,
        action="lifecycle.deleted",
        subject=lifecycle,
        changes={"name": lifecycle.name, "phases": lifecycle_summary(lifecycle)},
        source_ip=source_ip,
    )
    delete_or_refuse(lifecycle)


def lifecycle_summary(lifecycle: Lifecycle) -> list[dict]:
    """The phases as plain data, for the audit trail."""
    return [
        {
            "name": phase.name,
            "rule": phase.rule,
            "minimum": phase.minimum,
            "environments": [
                {"environment": pe.environment.slug, "automatic": pe.automatic}
                for pe in phase.phase_environments.all()
            ],
        }
        for phase in lifecycle.phases.order_by("position", "id").prefetch_related(
            "phase_environments__environment"
        )
    ]


def _check_lifecycle_name(name: str, *, exclude_pk: int | None) -> None:
    if not name:
        raise InvalidInput("A lifecycle needs a name.", code="name_required")
    if Lifecycle.objects.filter(name__iexact=name).exclude(pk=exclude_pk).exists():
        raise Conflict(f"A lifecycle named {name} already exists.", code="duplicate_name")


def _check_phases(phases: Sequence[PhaseSpec]) -> None:
    errors = lifecycle_phase_errors(phases)
    if errors:
        index, fields = next(iter(errors.items()))
        message = next(iter(fields.values()))[0]
        raise InvalidInput(f"Phase {index}: {message}", code="invalid_phases")


def _set_phases(lifecycle: Lifecycle, phases: Sequence[PhaseSpec]) -> None:
    for position, spec in enumerate(phases, start=1):
        phase = Phase.objects.create(
            lifecycle=lifecycle,
            name=spec.name.strip(),
            position=position,
            rule=spec.rule,
            minimum=spec.minimum if spec.rule == PhaseRule.MINIMUM else None,
        )
        PhaseEnvironment.objects.bulk_create(
            PhaseEnvironment(phase=phase, environment=pe.environment, automatic=pe.automatic)
            for pe in spec.environments
        )
