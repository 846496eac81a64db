"""Writes for step templates (SPEC §11): the library's templates, steps made from them, and
"Update to version N".

Templates are configuration shared by every project, so only superusers create, change or
delete them, as with lifecycles and teams; everyone signed in may read them. A project
editor makes steps from them in the projects they edit. Every change is audited in the
transaction that makes it, and a template's version grows by one on every change.

A step made from a template stores the template, its version and its parameter values,
and has the template's kind, instructions, script and timeout rendered with those values
(``processes.parameters``). Its other fields (name, environments, teams, target roles…) are
the step's own. A step whose rendered fields are changed by hand (a new helper script,
"Automate this step") is no longer the template's: it keeps its fields and drops the link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from django.db import transaction

from processes.choices import DEFAULT_SCRIPT_TIMEOUT_SECONDS, StepKind
from processes.models import Project, Step, StepTemplate
from processes.parameters import (
    Parameter,
    ParameterError,
    parameters_read,
    render_script,
    render_text,
    template_errors,
    values_resolve,
)
from processes.services import (
    MAX_TIMEOUT_SECONDS,
    StepSpec,
    process_locked,
    process_replace,
    step_at,
    step_spec,
)
from relman.deletion import delete_or_refuse
from relman.exceptions import Conflict, InvalidInput
from teams import permissions
from teams.audit import audit_record
from teams.models import User

# The fields a template gives a step; a step's own fields are everything else.
TEMPLATE_FIELDS = ("kind", "instructions", "script", "timeout_seconds")
CHANGEABLE = ("name", "description", "kind", "instructions", "script", "timeout_seconds", "parameters")


class TemplateRefused(InvalidInput):
    """A step's template or parameters cannot make a step; ``field`` says which field of
    the process document is at fault."""

    def __init__(self, message: str, *, field: str = "parameters"):
        super().__init__(message, code="invalid_template_step")
        self.field = field


# --- the library ------------------------------------------------------------------------------


def _checked(
    *, name: str, kind: str, instructions: str, script: str, timeout_seconds: int, parameters: object
) -> list[dict]:
    """The template's fields checked; its parameters as stored (every key present)."""
    if not name.strip():
        raise InvalidInput("A step template needs a name.", code="name_required")
    if kind not in StepKind.values:
        raise InvalidInput(f"Unknown kind {kind!r}; choose one of {', '.join(StepKind.values)}.")
    if kind == StepKind.SCRIPT and not script.strip():
        raise InvalidInput("A script step template needs a script.", code="script_required")
    if not 1 <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise InvalidInput(f"A timeout is between 1 and {MAX_TIMEOUT_SECONDS} seconds.")
    try:
        read = parameters_read(parameters)
    except ParameterError as error:
        raise InvalidInput(str(error), code="invalid_parameters") from None
    problems = template_errors(kind=kind, script=script, parameters=read)
    if problems:
        raise InvalidInput(problems[0], code="invalid_script")
    return [p.as_dict() for p in read]


def _check_name_free(name: str, *, exclude_pk: int | None) -> None:
    if StepTemplate.objects.filter(name__iexact=name).exclude(pk=exclude_pk).exists():
        raise Conflict(f"A step template named {name} already exists.", code="duplicate_name")


def _described(template: StepTemplate) -> dict:
    return {key: getattr(template, key) for key in (*CHANGEABLE, "version")}


@transaction.atomic
def step_template_create(
    *,
    name: str,
    description: str = "",
    kind: str = StepKind.MANUAL,
    instructions: str = "",
    script: str = "",
    timeout_seconds: int = DEFAULT_SCRIPT_TIMEOUT_SECONDS,
    parameters: object = None,
    actor: User | None,
    source_ip: str | None = None,
) -> StepTemplate:
    """Creates a step template at version 1.

    Refuses: an actor who is not a superuser (403); an empty name (400), one already taken in
    any case (409); a script step template without a script, a timeout out of range, a
    parameter list ``parameters_read`` refuses, a parameter placed inside quotes in the
    script (400).
    """
    permissions.require_superuser(actor, "create step templates")
    name = name.strip()
    stored = _checked(
        name=name,
        kind=kind,
        instructions=instructions,
        script=script,
        timeout_seconds=timeout_seconds,
        parameters=parameters,
    )
    _check_name_free(name, exclude_pk=None)
    template = StepTemplate.objects.create(
        name=name,
        description=description,
        kind=kind,
        instructions=instructions,
        script=script,
        timeout_seconds=timeout_seconds,
        parameters=stored,
    )
    audit_record(
        actor=actor,
        action="step_template.created",
        subject=template,
        changes=_described(template),
        source_ip=source_ip,
    )
    return template


@transaction.atomic
def step_template_update(
    *,
    template: StepTemplate,
    name: str | None = None,
    description: str | None = None,
    kind: str | None = None,
    instructions: str | None = None,
    script: str | None = None,
    timeout_seconds: int | None = None,
    parameters: object = None,
    actor: User | None,
    source_ip: str | None = None,
) -> StepTemplate:
    """Changes what is given (None: unchanged) and raises the version by one; changing
    nothing writes nothing and keeps the version. Steps made from the template keep their
    fields until someone updates them to the new version.

    Refuses what ``step_template_create`` refuses.
    """
    permissions.require_superuser(actor, "change step templates")
    template = StepTemplate.objects.select_for_update().get(pk=template.pk)
    wanted = {
        "name": name.strip() if name is not None else template.name,
        "description": template.description if description is None else description,
        "kind": kind or template.kind,
        "instructions": template.instructions if instructions is None else instructions,
        "script": template.script if script is None else script,
        "timeout_seconds": template.timeout_seconds if timeout_seconds is None else timeout_seconds,
    }
    wanted["parameters"] = _checked(
        **{k: v for k, v in wanted.items() if k != "description"},
        parameters=template.parameters if parameters is None else parameters,
    )
    changes = {
        key: [getattr(template, key), value]
        for key, value in wanted.items()
        if value != getattr(template, key)
    }
    if not changes:
        return template
    if "name" in changes:
        _check_name_free(wanted["name"], exclude_pk=template.pk)
    for key, (_, value) in changes.items():
        setattr(template, key, value)
    changes["version"] = [template.version, template.version + 1]
    template.version += 1
    template.save(update_fields=[*changes])
    audit_record(
        actor=actor, action="step_template.updated", subject=template, changes=changes, source_ip=source_ip
    )
    return template


@transaction.atomic
def step_template_delete(*, template: StepTemplate, actor: User | None, source_ip: str | None = None) -> None:
    """Deletes a template no step uses (a release's snapshot never refers to one).

    Refuses: an actor who is not a superuser (403); a template that steps use (409,
    ``in_use``, naming their projects).
    """
    permissions.require_superuser(actor, "delete step templates")
    audit_record(
        actor=actor,
        action="step_template.deleted",
        subject=template,
        changes=_described(template),
        source_ip=source_ip,
    )
    delete_or_refuse(template)


# --- steps made from templates ---------------------------------------------------------------


def template_parameters(template: StepTemplate) -> list[Parameter]:
    """The template's parameters as stored (checked when they were saved)."""
    return parameters_read(template.parameters)


def rendered_fields(template: StepTemplate, values: Mapping[str, str]) -> dict:
    """The fields the template gives a step with these values (already resolved)."""
    parameters = template_parameters(template)
    return {
        "kind": template.kind,
        "instructions": render_text(template.instructions, parameters, values, script=False),
        "script": render_script(template.script, parameters, values),
        "timeout_seconds": template.timeout_seconds,
    }


def step_render(spec: StepSpec, *, given: Sequence[str] = (), project: Project | None = None) -> StepSpec:
    """The step ``spec`` describes, made from its template: its parameter values resolved
    (defaults for those not given) and the template's fields rendered with them, at the
    template's current version. A spec without a template is returned as it is.

    ``given`` names the template's fields the document also gave: they must be what the
    template makes, so a GET → PUT round trip changes nothing. A step of ``project`` not yet
    updated to the template's current version round-trips too: given exactly as stored, it
    keeps its version and fields.

    Refuses (``TemplateRefused``, 400, naming the parameter or field): what ``values_resolve``
    refuses; a given field that differs from what the template makes (leave it out to take
    the template's, or drop the template to write the step's own).
    """
    template = spec.template
    if template is None:
        if spec.parameters:
            raise TemplateRefused("Parameters are only for a step made from a template: name its template.")
        return replace(spec, template_version=None, parameters=None)
    try:
        values = values_resolve(template_parameters(template), spec.parameters, template=template.name)
    except ParameterError as error:
        raise TemplateRefused(error.messages[0]) from None
    fields = rendered_fields(template, values)
    differing = [name for name in given if getattr(spec, name) != fields[name]]
    if differing:
        kept = _kept_version(spec, project, values)
        if kept is not None:
            return kept
        raise TemplateRefused(
            f"The {differing[0]} differs from what {template.name} (version {template.version}) makes with "
            "these parameters: leave it out to take the template's, or drop the template to write "
            "the step's own.",
            field=differing[0],
        )
    return replace(spec, **fields, template_version=template.version, parameters=values)


def _kept_version(spec: StepSpec, project: Project | None, values: Mapping[str, str]) -> StepSpec | None:
    """The spec at the version its stored step of ``project`` has, when it gives that step's
    template fields and parameters unchanged; otherwise None."""
    if project is None:
        return None
    stored = (
        Step.objects.filter(project=project, name=spec.name.strip(), template=spec.template)
        .exclude(template_version=None)
        .first()
    )
    if stored is None or stored.parameters != values:
        return None
    if any(getattr(spec, name) != getattr(stored, name) for name in TEMPLATE_FIELDS):
        return None
    return replace(spec, template_version=stored.template_version, parameters=values)


@transaction.atomic
def step_add_from_template(
    *,
    project: Project,
    template: StepTemplate,
    parameters: Mapping[str, object],
    name: str,
    position: int | None = None,
    spec: StepSpec | None = None,
    actor: User | None,
    source_ip: str | None = None,
) -> Step:
    """Adds a step made from ``template`` to the process, at ``position`` (from 1; None or
    past the end: last). ``spec`` gives the step's own fields (environments, teams, target
    roles…). Audited as the process change it is. Returns the new step.

    Refuses: an actor without the project editor role on the project (403); what
    ``step_render`` and ``process_replace`` refuse (400).
    """
    specs = [step_spec(step) for step in process_locked(project, actor)]
    new = step_render(
        replace(spec or StepSpec(name=name), name=name, template=template, parameters=dict(parameters))
    )
    index = len(specs) if position is None or not 1 <= position <= len(specs) else position - 1
    specs.insert(index, new)
    created = process_replace(project=project, steps=specs, actor=actor, source_ip=source_ip)
    return created[index]


@transaction.atomic
def step_update_from_template(
    *,
    project: Project,
    position: int,
    parameters: Mapping[str, object] | None = None,
    actor: User | None,
    source_ip: str | None = None,
) -> Step:
    """ "Update to version N": the step at ``position`` (from 1) made again from its
    template's current version with its stored parameter values (and ``parameters``, which
    win); a parameter the new version adds takes its default, one it drops is forgotten.
    Its own fields stay. Audited (``process.step_template_updated``); new releases only.

    Refuses: an actor without the project editor role (403); a position outside the process
    (400); a step not made from a template, or at its template's current version already
    (409, ``not_outdated``); a new parameter without a default and no value given (400,
    naming it).
    """
    steps = process_locked(project, actor)
    step = step_at(project, steps, position)
    template = step.template
    if template is None:
        raise Conflict(f"Step {position}, {step.name}, is not made from a template.", code="not_outdated")
    if not step.template_outdated:
        raise Conflict(
            f"Step {position}, {step.name}, is at version {template.version} of {template.name} already.",
            code="not_outdated",
        )
    known = {p.name for p in template_parameters(template)}
    values = {k: v for k, v in (step.parameters or {}).items() if k in known}
    values.update(parameters or {})
    specs = [step_spec(s) for s in steps]
    try:
        specs[position - 1] = step_render(replace(specs[position - 1], parameters=values))
    except TemplateRefused as refusal:
        raise TemplateRefused(
            f"Version {template.version} of {template.name}: {refusal.message} Give it a value to update."
        ) from None
    created = process_replace(project=project, steps=specs, actor=actor, source_ip=source_ip)
    audit_record(
        actor=actor,
        action="process.step_template_updated",
        subject=project,
        project=project,
        changes={
            "step": step.name,
            "position": position,
            "template": template.name,
            "version": [step.template_version, template.version],
        },
        source_ip=source_ip,
    )
    return created[position - 1]
