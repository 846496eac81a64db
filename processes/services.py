"""Writes for the processes app: projects and their processes.

Projects are created by superusers and edited by project editors in scope; a process is
replaced as one document, so a release's snapshot is always of a whole, valid process.
Every change writes its audit event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Count
from django.utils.text import slugify

from lifecycles.models import Environment, Lifecycle
from processes.checklist import ChecklistError, parse_checklist
from processes.choices import (
    AUTOMATION_LEVEL_HELPER,
    AUTOMATION_LEVELS,
    DEFAULT_PROJECT_GROUP,
    DEFAULT_SCRIPT_TIMEOUT_SECONDS,
    MAX_TIMEOUT_MINUTES,
    OnTimeout,
    RunCondition,
    StepKind,
    automation_level,
)
from processes.models import Project, ProjectGroup, Step, StepTemplate
from relman.deletion import delete_or_refuse
from relman.exceptions import Conflict, InvalidInput, PermissionRefused
from relman.updates import apply_changes
from relman.validation import check_name_and_slug_free, roles_errors
from teams import permissions
from teams.audit import audit_record
from teams.models import Team, User
from teams.services import team_create

# A script may run for at most a day; anything longer is a mistake, not a deployment.
MAX_TIMEOUT_SECONDS = 24 * 60 * 60
MAX_REMIND_MINUTES = 7 * 24 * 60
PROJECT_FIELDS = ("name", "slug", "group", "lifecycle", "description", "disabled", "guided_failure")
# The step fields a process document, a stored step and the audit trail hold alike; the
# others (name, links, lists, template) each need a word of their own.
PLAIN_STEP_FIELDS = (
    "kind",
    "enabled",
    "run_condition",
    "instructions",
    "block_deployments",
    "prevent_self_approval",
    "script",
    "timeout_seconds",
    "remind_after_minutes",
    "required_approvals",
    "timeout_minutes",
    "on_timeout",
)


# --- project groups ---------------------------------------------------------------------


@transaction.atomic
def project_group_create(
    *, name: str, description: str = "", actor: User | None, source_ip: str | None = None
) -> ProjectGroup:
    """Creates a project group.

    Refuses: an actor who is not a superuser (403); an empty name (400) or one already taken in
    any case (409).
    """
    permissions.require_superuser(actor, "create project groups")
    name = name.strip()
    _check_project_group_name(name, exclude_pk=None)
    group = ProjectGroup.objects.create(name=name, description=description)
    audit_record(
        actor=actor,
        action="project_group.created",
        subject=group,
        changes={"name": name, "description": description},
        source_ip=source_ip,
    )
    return group


@transaction.atomic
def project_group_update(
    *,
    group: ProjectGroup,
    name: str | None = None,
    description: str | None = None,
    actor: User | None,
    source_ip: str | None = None,
) -> ProjectGroup:
    """Changes what is given (None: unchanged); changing nothing writes nothing.

    Refuses: an actor who is not a superuser (403); an empty name (400) or one already taken in
    any case (409).
    """
    permissions.require_superuser(actor, "change project groups")
    wanted = {"name": name.strip() if name is not None else None, "description": description}
    changes = apply_changes(group, wanted)
    if not changes:
        return group
    if "name" in changes:
        _check_project_group_name(wanted["name"], exclude_pk=group.pk)
    group.save(update_fields=list(changes))
    audit_record(
        actor=actor, action="project_group.updated", subject=group, changes=changes, source_ip=source_ip
    )
    return group


@transaction.atomic
def project_group_delete(*, group: ProjectGroup, actor: User | None, source_ip: str | None = None) -> None:
    """Deletes a project group nothing refers to.

    Refuses: an actor who is not a superuser (403); a group that has projects or is in
    the scope of a role grant (409, ``in_use``) — dropping it from a grant scoped to it
    alone would widen that grant to every project.
    """
    permissions.require_superuser(actor, "delete project groups")
    audit_record(
        actor=actor,
        action="project_group.deleted",
        subject=group,
        changes={"name": group.name, "description": group.description},
        source_ip=source_ip,
    )
    delete_or_refuse(group)


def _check_project_group_name(name: str, *, exclude_pk: int | None) -> None:
    if not name:
        raise InvalidInput("A project group needs a name.", code="name_required")
    if ProjectGroup.objects.filter(name__iexact=name).exclude(pk=exclude_pk).exists():
        raise Conflict(f"A project group named {name} already exists.", code="duplicate_name")


# --- projects ---------------------------------------------------------------------------


@transaction.atomic
def project_create(
    *,
    name: str,
    lifecycle: Lifecycle,
    slug: str = "",
    group: ProjectGroup | None = None,
    description: str = "",
    disabled: bool = False,
    guided_failure: bool = False,
    actor: User | None,
    source_ip: str | None = None,
) -> Project:
    """Creates a project with an empty process; without a group it goes to the Default
    Project Group, without a slug one is made from the name.

    Refuses: an actor who is not a superuser (403); a name or slug already taken (409).
    """
    if actor is not None and not (actor.is_active and actor.is_superuser):
        raise PermissionRefused("Only superusers may create projects.")
    name = name.strip()
    slug = slug or slugify(name)
    check_name_and_slug_free(Project, "a project", name, slug, exclude_pk=None)
    project = Project.objects.create(
        name=name,
        slug=slug,
        group=group or ProjectGroup.objects.get_or_create(name=DEFAULT_PROJECT_GROUP)[0],
        lifecycle=lifecycle,
        description=description,
        disabled=disabled,
        guided_failure=guided_failure,
    )
    audit_record(
        actor=actor,
        action="project.created",
        subject=project,
        project=project,
        changes={key: str(getattr(project, key)) for key in PROJECT_FIELDS},
        source_ip=source_ip,
    )
    return project


@transaction.atomic
def project_update(
    *,
    project: Project,
    name: str | None = None,
    slug: str | None = None,
    group: ProjectGroup | None = None,
    lifecycle: Lifecycle | None = None,
    description: str | None = None,
    disabled: bool | None = None,
    guided_failure: bool | None = None,
    actor: User | None,
    source_ip: str | None = None,
) -> Project:
    """Changes what is given (None: unchanged). A new lifecycle applies to existing
    releases from now on.

    Refuses: an actor without the project editor role on the project (403); a name or
    slug already taken (409).
    """
    if actor is not None and not permissions.can_edit_process(actor, project):
        raise PermissionRefused(f"You need the project editor role on {project} to change it.")
    wanted = {
        "name": name.strip() if name is not None else None,
        "slug": slug,
        "group": group,
        "lifecycle": lifecycle,
        "description": description,
        "disabled": disabled,
        "guided_failure": guided_failure,
    }
    changes = apply_changes(project, wanted)
    if not changes:
        return project
    check_name_and_slug_free(Project, "a project", project.name, project.slug, exclude_pk=project.pk)
    project.save(update_fields=list(changes))
    audit_record(
        actor=actor,
        action="project.updated",
        subject=project,
        project=project,
        changes={key: [str(old), str(new)] for key, (old, new) in changes.items()},
        source_ip=source_ip,
    )
    return project


@transaction.atomic
def project_delete(*, project: Project, actor: User | None, source_ip: str | None = None) -> None:
    """Deletes a project and its process.

    Refuses: an actor who is not a superuser (403); a project that has releases or
    deployments, or is in the scope of a role grant (409, ``in_use``) — dropping it from a
    grant scoped to it alone would widen that grant to every project.
    """
    permissions.require_superuser(actor, "delete projects")
    audit_record(
        actor=actor,
        action="project.deleted",
        subject=project,
        project=project,
        changes={
            "name": project.name,
            "slug": project.slug,
            "group": project.group.name,
            "lifecycle": project.lifecycle.name,
            "steps": process_summary(project),
        },
        source_ip=source_ip,
    )
    delete_or_refuse(project)


# --- processes --------------------------------------------------------------------------


@dataclass(frozen=True)
class StepSpec:
    """One step of a process document (SPEC §4.2), with references resolved."""

    name: str
    kind: str = StepKind.MANUAL
    enabled: bool = True
    environments: Sequence[Environment] = field(default_factory=tuple)
    excluded_environments: Sequence[Environment] = field(default_factory=tuple)
    run_condition: str = RunCondition.SUCCESS
    instructions: str = ""
    responsible_teams: Sequence[Team] = field(default_factory=tuple)
    block_deployments: bool = False
    prevent_self_approval: bool = False
    script: str = ""
    timeout_seconds: int = DEFAULT_SCRIPT_TIMEOUT_SECONDS
    remind_after_minutes: int | None = None
    notify: Sequence[str] = field(default_factory=tuple)
    target_roles: Sequence[str] = field(default_factory=tuple)
    required_approvals: int = 1
    timeout_minutes: int | None = None
    on_timeout: str = OnTimeout.ABORT
    # Made from a template (processes.library.step_render fills in the fields it gives).
    template: StepTemplate | None = None
    template_version: int | None = None
    parameters: Mapping[str, str] | None = None

    @property
    def automation_level(self) -> int:
        return automation_level(self.kind, self.script)


def process_step_errors(steps: Sequence[StepSpec]) -> dict[int, dict[str, list[str]]]:
    """What is wrong with these steps, by step index and field (empty: nothing).

    Names are unique within the process; a script step has a script; instructions and a
    script are within their limits (RELMAN_INSTRUCTIONS_MAX_LENGTH, RELMAN_SCRIPT_MAX_LENGTH);
    a timeout is between 1 second and a day; an environment is not both included and excluded;
    a quorum (``required_approvals``) is at least 1 and no more than the responsible teams'
    members, and a step that needs more than one approval does not proceed on its timeout.
    """
    errors: dict[int, dict[str, list[str]]] = {}

    def add(index: int, field_name: str, message: str) -> None:
        errors.setdefault(index, {}).setdefault(field_name, []).append(message)

    names: set[str] = set()
    for index, step in enumerate(steps):
        name = step.name.strip()
        if not name:
            add(index, "name", "A step needs a name.")
        elif name in names:
            add(index, "name", f"Another step is already named {name}.")
        names.add(name)
        if step.kind not in StepKind.values:
            add(index, "kind", f"Unknown kind {step.kind!r}; choose one of {', '.join(StepKind.values)}.")
        if step.run_condition not in RunCondition.values:
            add(
                index,
                "run_condition",
                f"Unknown run condition {step.run_condition!r}; choose one of {', '.join(RunCondition.values)}.",
            )
        if step.kind == StepKind.SCRIPT and not step.script.strip():
            add(index, "script", "A script step needs a script.")
        limit = settings.RELMAN_INSTRUCTIONS_MAX_LENGTH
        if len(step.instructions) > limit:
            add(
                index,
                "instructions",
                f"Instructions are limited to {limit:,} characters; these have {len(step.instructions):,}.",
            )
        limit = settings.RELMAN_SCRIPT_MAX_LENGTH
        if len(step.script) > limit:
            add(
                index,
                "script",
                f"A script is limited to {limit:,} characters; this one has {len(step.script):,}.",
            )
        if not 1 <= step.timeout_seconds <= MAX_TIMEOUT_SECONDS:
            add(index, "timeout_seconds", f"A timeout is between 1 and {MAX_TIMEOUT_SECONDS} seconds.")
        both = {e.pk for e in step.environments} & {e.pk for e in step.excluded_environments}
        if both:
            names_both = ", ".join(e.name for e in step.environments if e.pk in both)
            add(index, "excluded_environments", f"{names_both} cannot be both included and excluded.")
        if step.remind_after_minutes is not None and not 1 <= step.remind_after_minutes <= MAX_REMIND_MINUTES:
            add(index, "remind_after_minutes", f"A reminder comes after 1 to {MAX_REMIND_MINUTES} minutes.")
        for address in step.notify:
            try:
                validate_email(address)
            except ValidationError:
                add(index, "notify", f"{address!r} is not an email address.")
        for message in roles_errors(step.target_roles):
            add(index, "target_roles", message)
        for field_name, message in _approval_errors(step):
            add(index, field_name, message)
    return errors


def _approval_errors(step: StepSpec) -> list[tuple[str, str]]:
    """What is wrong with the step's quorum and timeout, as (field, message) pairs."""
    errors = []
    needed = step.required_approvals
    if needed < 1:
        errors.append(("required_approvals", "A step needs at least 1 approval."))
    elif needed > 1:
        errors.extend(
            ("required_approvals", message) for message in _quorum_errors(step.responsible_teams, needed)
        )
    if step.on_timeout not in OnTimeout.values:
        errors.append(
            (
                "on_timeout",
                f"Unknown timeout answer {step.on_timeout!r}; choose one of {', '.join(OnTimeout.values)}.",
            )
        )
    elif step.on_timeout == OnTimeout.PROCEED and needed > 1:
        errors.append(
            (
                "on_timeout",
                f"A step that needs {needed} approvals cannot proceed on its timeout: a quorum cannot be assumed.",
            )
        )
    if step.timeout_minutes is not None and not 1 <= step.timeout_minutes <= MAX_TIMEOUT_MINUTES:
        errors.append(("timeout_minutes", f"A timeout is between 1 and {MAX_TIMEOUT_MINUTES} minutes."))
    return errors


def _quorum_errors(teams: Sequence[Team], needed: int) -> list[str]:
    """Why ``needed`` distinct approvers cannot come from these teams, or nothing."""
    if not teams:
        return [
            f"{needed} approvals need responsible teams to count the people who may approve;"
            " a step without one is answered by a single deployer."
        ]
    members = Team.members.through.objects.filter(team__in=teams)
    people = members.values("user_id").distinct().count()
    if needed <= people:
        return []
    sizes = dict(members.values_list("team_id").annotate(size=Count("user_id", distinct=True)))
    described = ", ".join(f"{t.name} ({_people(sizes.get(t.pk, 0))})" for t in teams)
    return [f"{needed} approvals are more than the {_people(people)} who may approve: {described}."]


def _people(count: int) -> str:
    return f"{count} person" if count == 1 else f"{count} people"


@transaction.atomic
def process_replace(
    *, project: Project, steps: Sequence[StepSpec], actor: User | None, source_ip: str | None = None
) -> list[Step]:
    """Replaces the project's process with these steps, in this order. Releases already
    created keep their snapshot; the next release takes the new process.

    Refuses: an actor without the project editor role on the project (403); steps that
    ``process_step_errors`` rejects (400).
    """
    if actor is not None and not permissions.can_edit_process(actor, project):
        raise PermissionRefused(f"You need the project editor role on {project} to change its process.")
    errors = process_step_errors(steps)
    if errors:
        index, fields = next(iter(errors.items()))
        raise InvalidInput(f"Step {index}: {next(iter(fields.values()))[0]}", code="invalid_process")
    before = process_summary(project)
    Step.objects.filter(project=project).delete()
    created = []
    for position, spec in enumerate(steps, start=1):
        step = Step.objects.create(
            project=project,
            position=position,
            name=spec.name.strip(),
            **{name: getattr(spec, name) for name in PLAIN_STEP_FIELDS},
            notify=list(spec.notify),
            target_roles=list(dict.fromkeys(spec.target_roles)),
            template=spec.template,
            template_version=spec.template_version if spec.template else None,
            parameters=dict(spec.parameters or {}) if spec.template else {},
        )
        step.environments.set(spec.environments)
        step.excluded_environments.set(spec.excluded_environments)
        step.responsible_teams.set(spec.responsible_teams)
        created.append(step)
    after = process_summary(project)
    if before != after:
        audit_record(
            actor=actor,
            action="process.updated",
            subject=project,
            project=project,
            changes={"steps": [before, after]},
            source_ip=source_ip,
        )
    return created


def step_spec(step: Step) -> StepSpec:
    """A stored step as the process document has it (its links prefetched, ideally)."""
    return StepSpec(
        name=step.name,
        **{name: getattr(step, name) for name in PLAIN_STEP_FIELDS},
        environments=tuple(step.environments.all()),
        excluded_environments=tuple(step.excluded_environments.all()),
        responsible_teams=tuple(step.responsible_teams.all()),
        notify=tuple(step.notify),
        target_roles=tuple(step.target_roles),
        template=step.template,
        template_version=step.template_version,
        parameters=dict(step.parameters) if step.template_id else None,
    )


# --- the automation ladder (SPEC §11) ----------------------------------------------------


@dataclass(frozen=True)
class ChecklistImport:
    """What a pasted checklist makes: manual steps, and the team names matching no team."""

    steps: list[StepSpec]
    unmatched: list[str]


def checklist_read(*, markdown: str) -> ChecklistImport:
    """The manual steps a checklist makes, each for the team its who column names: matched
    by name ignoring case, with or without a trailing "Team" ("DBA" is the "DBA Team").
    A name matching no team leaves its step open to every deployer and is listed unmatched.

    Refuses (400): text with no recognisable steps (naming the formats understood), more
    than 200 steps.
    """
    try:
        items = parse_checklist(markdown)
    except ChecklistError as error:
        raise InvalidInput(str(error), code="invalid_checklist") from None
    teams = {team.name.lower(): team for team in Team.objects.all()}
    steps, unmatched = [], []
    for item in items:
        team = teams.get(item.team.lower()) or teams.get(f"{item.team} team".lower()) if item.team else None
        if item.team and team is None and item.team.lower() not in {name.lower() for name in unmatched}:
            unmatched.append(item.team)
        steps.append(StepSpec(name=item.title, responsible_teams=(team,) if team else ()))
    return ChecklistImport(steps=steps, unmatched=unmatched)


@transaction.atomic
def process_import_checklist(
    *,
    project: Project,
    markdown: str,
    create_missing_teams: bool = False,
    actor: User | None,
    source_ip: str | None = None,
) -> ChecklistImport:
    """Replaces the project's process with the checklist's steps in one audited change
    (``process_replace``); with ``create_missing_teams`` the unmatched names become teams
    first, without members or roles. Returns what was imported and what stayed unmatched.

    Refuses: an actor without the project editor role on the project (403); creating teams
    by an actor who is not a superuser (403, naming the teams); what ``checklist_read``
    refuses (400).
    """
    if actor is not None and not permissions.can_edit_process(actor, project):
        raise PermissionRefused(f"You need the project editor role on {project} to change its process.")
    read = checklist_read(markdown=markdown)
    if create_missing_teams and read.unmatched:
        if actor is not None and not actor.is_superuser:
            raise PermissionRefused(
                f"Only superusers may create teams; ask one to create {', '.join(read.unmatched)}, "
                "or import without creating them."
            )
        for name in read.unmatched:
            team_create(
                name=name, description="Made by a checklist import.", actor=actor, source_ip=source_ip
            )
        read = checklist_read(markdown=markdown)
    process_replace(project=project, steps=read.steps, actor=actor, source_ip=source_ip)
    return read


def process_locked(project: Project, actor: User | None) -> list[Step]:
    """The project's steps in order, for a change to one of them: the actor may edit the
    process (else 403), and the project's row is locked until the transaction ends, so two
    editors changing steps at once do not each replace the process they read."""
    if actor is not None and not permissions.can_edit_process(actor, project):
        raise PermissionRefused(f"You need the project editor role on {project} to change its process.")
    Project.objects.select_for_update().get(pk=project.pk)
    return list(process_steps(project))


def step_at(project: Project, steps: list[Step], position: int) -> Step:
    """The step at ``position``, counting from 1 in process order; 400 outside the process."""
    if not 1 <= position <= len(steps):
        raise InvalidInput(
            f"{project} has no step {position}; its steps are 1 to {len(steps)}.", code="no_such_step"
        )
    return steps[position - 1]


@transaction.atomic
def step_remove(*, project: Project, position: int, actor: User | None, source_ip: str | None = None) -> Step:
    """Removes the step at ``position`` (from 1) from the process: a manual check no longer
    needed once its automation is trusted, say. Releases already created keep it. Audited
    (``process.step_removed``, with the process change). Returns the step as it was.

    Refuses: an actor without the project editor role (403); a position outside the
    process (400).
    """
    steps = process_locked(project, actor)
    removed = step_at(project, steps, position)
    process_replace(
        project=project,
        steps=[step_spec(s) for s in steps if s is not removed],
        actor=actor,
        source_ip=source_ip,
    )
    audit_record(
        actor=actor,
        action="process.step_removed",
        subject=project,
        project=project,
        changes={"step": removed.name, "position": position},
        source_ip=source_ip,
    )
    return removed


@transaction.atomic
def step_automate(
    *, project: Project, position: int, keep_check: bool, actor: User | None, source_ip: str | None = None
) -> list[Step]:
    """Turns the manual step at ``position`` (from 1, in process order) into a script step
    running its helper script, with the same name, script and environments; with
    ``keep_check`` a manual step "Check: <name>" for the same teams follows it, saying what
    to check. Releases already created keep their snapshot. Returns the new process.

    Refuses: an actor without the project editor role on the project (403); a position
    outside the process (400); a step not at rung 2 — a manual step without a helper
    script, or a script step already (409, ``not_automatable``).
    """
    steps = process_locked(project, actor)
    step = step_at(project, steps, position)
    if step.automation_level != AUTOMATION_LEVEL_HELPER:
        reason = (
            "it has no helper script to automate; add one first"
            if step.is_manual
            else "it is a script step already"
        )
        raise Conflict(
            f"Step {position}, {step.name}, is at rung {step.automation_level} "
            f"({AUTOMATION_LEVELS[step.automation_level].lower()}): {reason}.",
            code="not_automatable",
        )
    manual = step_spec(step)
    specs = [step_spec(s) for s in steps]
    specs[position - 1] = StepSpec(
        name=manual.name,
        kind=StepKind.SCRIPT,
        enabled=manual.enabled,
        environments=manual.environments,
        excluded_environments=manual.excluded_environments,
        run_condition=manual.run_condition,
        script=manual.script,
        timeout_seconds=manual.timeout_seconds,
        target_roles=manual.target_roles,
    )
    if keep_check:
        check = replace(
            manual,
            name=f"Check: {manual.name}"[:200],
            run_condition=RunCondition.SUCCESS,
            script="",
            target_roles=(),
            template=None,
            template_version=None,
            parameters=None,
            instructions=(
                f"The script step **{manual.name}** now runs by itself. Check that it did what "
                "this step used to do by hand: read its output in the task log above and "
                "look at the result. Proceed when it worked; abort otherwise.\n\n"
                + (f"What the step asked before:\n\n{manual.instructions}" if manual.instructions else "")
            ).strip(),
        )
        specs.insert(position, check)
    created = process_replace(project=project, steps=specs, actor=actor, source_ip=source_ip)
    audit_record(
        actor=actor,
        action="process.step_automated",
        subject=project,
        project=project,
        changes={"step": manual.name, "position": position, "keep_check": keep_check},
        source_ip=source_ip,
    )
    return created


@transaction.atomic
def step_helper_script_set(
    *,
    project: Project,
    position: int,
    script: str,
    target_roles: Sequence[str],
    actor: User | None,
    source_ip: str | None = None,
) -> Step:
    """Sets, changes or (with an empty script) removes the helper script of the manual step
    at ``position`` (from 1) and the target roles it runs on: rung 1 to 2 of the ladder and
    back. A step made from a template whose script this changes is the template's no longer.
    Audited as the process change it is (``process.updated``); new releases only.

    Refuses: an actor without the project editor role (403); a position outside the
    process (400); a script step (409, ``not_manual``: its script is what it runs); what
    ``process_replace`` refuses (400).
    """
    steps = process_locked(project, actor)
    step = step_at(project, steps, position)
    if not step.is_manual:
        raise Conflict(
            f"Step {position}, {step.name}, is a script step: its script is what it runs, not a helper.",
            code="not_manual",
        )
    specs = [step_spec(s) for s in steps]
    changed = replace(
        specs[position - 1], script=script.replace("\r\n", "\n"), target_roles=tuple(target_roles)
    )
    if changed.script != step.script:
        changed = replace(changed, template=None, template_version=None, parameters=None)
    specs[position - 1] = changed
    return process_replace(project=project, steps=specs, actor=actor, source_ip=source_ip)[position - 1]


def process_summary(project: Project) -> list[dict]:
    """The process as plain data (the document's fields, teams by name), for the audit trail."""
    return [
        {
            "name": step.name,
            **{name: getattr(step, name) for name in PLAIN_STEP_FIELDS},
            "environments": [e.slug for e in step.environments.all()],
            "excluded_environments": [e.slug for e in step.excluded_environments.all()],
            "responsible_teams": [t.name for t in step.responsible_teams.all()],
            "notify": step.notify,
            "target_roles": step.target_roles,
            "template": step.template.name if step.template else None,
            "template_version": step.template_version,
            "parameters": step.parameters or None,
        }
        for step in process_steps(project)
    ]


def process_steps(project: Project):
    """The project's steps in process order, with everything the process document names."""
    return (
        Step.objects.filter(project=project)
        .order_by("position", "id")
        .select_related("template")
        .prefetch_related("environments", "excluded_environments", "responsible_teams")
    )
