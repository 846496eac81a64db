"""Deleting an object that others may still use.

Whatever must not lose its target (a lifecycle's environments, a step's teams, a grant's
scope, a project's releases…) refers to it with ``on_delete=PROTECT``, so Django refuses
the delete before it writes anything. ``delete_or_refuse`` turns that refusal into the
409 ``in_use`` every delete service gives, naming what still uses the object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import models
from django.db.models import ProtectedError, RestrictedError, prefetch_related_objects

from relman.exceptions import Conflict

# Names listed per use before "and N more".
SHOWN = 5


@dataclass(frozen=True)
class Use:
    """How a refusal words one protecting relation: the object ``phrase``, where ``{}``
    stands for the users, each named by ``name`` (a format string of ``row``, the using
    row). ``counted`` gives their number instead: a history grows without bound."""

    phrase: str
    name: str = "{row}"
    prefetch: tuple[str, ...] = ()
    counted: bool = False


# By "<app label>.<model>.<field>" of the protecting foreign key, in the order the
# refusal lists them. Labels, not imports: relman sits below every app.
USES: dict[str, Use] = {
    "processes.Project.lifecycle": Use("is the lifecycle of {}"),
    "processes.Project.group": Use("is the group of the projects {}"),
    "lifecycles.PhaseEnvironment.environment": Use(
        "is in the lifecycle {}",
        name="{row.phase.lifecycle} (phase {row.phase.name})",
        prefetch=("phase__lifecycle",),
    ),
    "processes.Step.template": Use(
        "is used by steps of the projects {}", name="{row.project}", prefetch=("project",)
    ),
    "releases.Release.project": Use("has the releases {}", name="{row.version}"),
    "releases.Deployment.project": Use("has {}", counted=True),
    "releases.Deployment.environment": Use("has {}", counted=True),
    "processes.StepEnvironment.environment": Use(
        "is one of the environments of {}", prefetch=("step__project",)
    ),
    "releases.ReleaseStepEnvironment.environment": Use(
        "is one of the environments of {}", prefetch=("release_step__release__project",)
    ),
    "processes.StepExcludedEnvironment.environment": Use("is excluded by {}", prefetch=("step__project",)),
    "releases.ReleaseStepExcludedEnvironment.environment": Use(
        "is excluded by {}", prefetch=("release_step__release__project",)
    ),
    "processes.StepResponsibleTeam.team": Use("is responsible for {}", prefetch=("step__project",)),
    "releases.ReleaseStepResponsibleTeam.team": Use(
        "is responsible for {}", prefetch=("release_step__release__project",)
    ),
    "releases.InterruptionResponsibleTeam.team": Use("is responsible for {}", prefetch=("interruption",)),
    "variables.VariableEnvironment.environment": Use(
        "is in the scope of the variables {}", prefetch=("variable__project", "variable__library_set")
    ),
    "variables.ProjectLibrarySet.library_set": Use("is included by the projects {}", name="{row.project}"),
    "teams.RoleGrantProjectGroup.project_group": Use(
        "is in the scope of role grants of {}", name="{row.role_grant.team}", prefetch=("role_grant__team",)
    ),
    "teams.RoleGrantProject.project": Use(
        "is in the scope of role grants of {}", name="{row.role_grant.team}", prefetch=("role_grant__team",)
    ),
    "targets.TargetEnvironment.environment": Use(
        "is served by the targets {}", name="{row.target}", prefetch=("target",)
    ),
    "releases.StepRun.target": Use("ran {} (disable the target instead)", counted=True),
    "teams.RoleGrantEnvironment.environment": Use(
        "is in the scope of role grants of {}", name="{row.role_grant.team}", prefetch=("role_grant__team",)
    ),
    "notifications.WebhookProject.project": Use(
        "is in the filter of the webhooks {}", name="{row.webhook}", prefetch=("webhook",)
    ),
    "notifications.WebhookEnvironment.environment": Use(
        "is in the filter of the webhooks {}", name="{row.webhook}", prefetch=("webhook",)
    ),
}

ORDER = {relation: index for index, relation in enumerate(USES)}


def delete_or_refuse(obj: models.Model) -> None:
    """Deletes ``obj`` with everything that cascades from it, or raises
    ``Conflict(code="in_use")`` naming what still uses it; then nothing is deleted.

    Call it in the transaction that records the delete in the audit trail: the refusal
    leaves that transaction by raising, and takes the recorded event back with it."""
    try:
        obj.delete()
    except ProtectedError as error:
        raise Conflict(in_use_message(obj, error.protected_objects), code="in_use") from error
    except RestrictedError as error:
        raise Conflict(in_use_message(obj, error.restricted_objects), code="in_use") from error


def in_use_message(obj: models.Model, users: Iterable[models.Model]) -> str:
    """The refusal, "<obj> <use>; <use>, so it cannot be deleted.", with the users of
    each wording of a use together, in the order of ``USES``."""
    by_relation: dict[str, list[models.Model]] = {}
    for row in users:
        by_relation.setdefault(_relation(row, obj), []).append(row)
    clauses: dict[str, list[str]] = {}
    for relation in sorted(by_relation, key=lambda relation: (ORDER.get(relation, len(ORDER)), relation)):
        rows = sorted(by_relation[relation], key=lambda row: row.pk)
        use = USES.get(relation) or Use("is in use by {}", name=f"{rows[0]._meta.verbose_name} {{row}}")
        names = clauses.setdefault(use.phrase, [])
        if use.counted:
            opts = rows[0]._meta
            names.append(f"{len(rows)} {opts.verbose_name if len(rows) == 1 else opts.verbose_name_plural}")
            continue
        prefetch_related_objects(rows, *use.prefetch)
        for row in rows:
            name = use.name.format(row=row)
            if name not in names:
                names.append(name)
    uses = "; ".join(phrase.format(_listed(names)) for phrase, names in clauses.items())
    return f"{obj} {uses}, so it cannot be deleted."


def _relation(row: models.Model, target: models.Model) -> str:
    """The protecting foreign key of ``row`` that points at ``target``; a row that
    protects something the delete would cascade to is known by its model alone."""
    for field in row._meta.concrete_fields:
        if (
            field.many_to_one
            and field.remote_field.on_delete in (models.PROTECT, models.RESTRICT)
            and isinstance(target, field.related_model)
            and getattr(row, field.attname) == target.pk
        ):
            return f"{row._meta.label}.{field.name}"
    return row._meta.label


def _listed(names: list[str]) -> str:
    if len(names) <= SHOWN:
        return ", ".join(names)
    return f"{', '.join(names[:SHOWN])} and {len(names) - SHOWN} more"
