"""A project's process page with its automation ladder, the "Paste a checklist" and "Add
step from template" pages, the helper script editor and the "Automate", "Update to
version N" and "Remove step" actions; its releases page is the releases app's (releases/views/projects.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lifecycles.models import Environment
from lifecycles.progression import lifecycle_phases
from processes import library, services
from processes.checklist import FORMATS
from processes.choices import AUTOMATION_LEVELS
from processes.models import Project, StepTemplate
from processes.services import StepSpec
from relman.exceptions import DomainError
from relman.http import client_ip, confirm_page
from teams import permissions
from teams.models import Team


def _visible_project(request: HttpRequest, slug: str) -> Project:
    return get_object_or_404(
        Project.objects.visible_to(request.user).select_related("group", "lifecycle"), slug=slug
    )


@login_required
@require_GET
def process_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The steps in order, with kind, responsible teams, environments and conditions, and
    the lifecycle a release of the project goes through."""
    project = _visible_project(request, slug)
    steps = list(services.process_steps(project))
    numbered = list(enumerate(steps, start=1))
    context = {
        "title": f"{project.name} process",
        "project": project,
        "steps": steps,
        # Highest rung first, as a ladder is climbed.
        "ladder": [
            {
                "level": level,
                "label": label,
                "steps": [(n, s) for n, s in numbered if s.automation_level == level],
            }
            for level, label in sorted(AUTOMATION_LEVELS.items(), reverse=True)
        ],
        "phases": lifecycle_phases(project.lifecycle_id),
        "can_edit_process": permissions.can_edit_process(request.user, project),
    }
    return render(request, "processes/process_detail.html", context)


def _editable_project(request: HttpRequest, slug: str) -> Project:
    """The project, for a project editor; others who see it are refused as a 404 too, since
    they have no page to act from."""
    project = _visible_project(request, slug)
    if not permissions.can_edit_process(request.user, project):
        raise Http404
    return project


@login_required
@require_http_methods(["GET", "POST"])
def checklist_import(request: HttpRequest, slug: str) -> HttpResponse:
    """Paste a checklist, see the steps it makes and the team names nobody matched, then
    import: the process is replaced by them, as the API's import-checklist does."""
    project = _editable_project(request, slug)
    markdown = request.POST.get("markdown", "")
    create_missing_teams = request.POST.get("create_missing_teams") == "on"
    context = {
        "title": f"Paste a checklist · {project.name}",
        "project": project,
        "formats": FORMATS,
        "markdown": markdown,
        "create_missing_teams": create_missing_teams,
        "may_create_teams": request.user.is_superuser,
        "replaces": project.steps.count(),
        "preview": None,
        "error": None,
    }
    if request.method == "GET":
        return render(request, "processes/checklist_import.html", context)
    try:
        if request.POST.get("action") == "import":
            services.process_import_checklist(
                project=project,
                markdown=markdown,
                create_missing_teams=create_missing_teams,
                actor=request.user,
                source_ip=client_ip(request),
            )
            messages.success(request, "Checklist imported: new releases take these steps.")
            return redirect("processes:process_detail", slug=project.slug)
        context["preview"] = services.checklist_read(markdown=markdown)
    except DomainError as refusal:
        context["error"] = refusal.message
        return render(request, "processes/checklist_import.html", context, status=400)
    return render(request, "processes/checklist_import.html", context)


@login_required
@require_POST
def step_automate(request: HttpRequest, slug: str, position: int) -> HttpResponse:
    project = _editable_project(request, slug)
    try:
        services.step_automate(
            project=project,
            position=position,
            keep_check=request.POST.get("keep_check") == "on",
            actor=request.user,
            source_ip=client_ip(request),
        )
    except DomainError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Step {position} now runs its script by itself, in new releases.")
    return redirect("processes:process_detail", slug=project.slug)


@login_required
@require_POST
def step_remove(request: HttpRequest, slug: str, position: int) -> HttpResponse:
    """Remove a step from the process, once confirmed (the dialog, or a page without
    JavaScript)."""
    project = _editable_project(request, slug)
    back = reverse("processes:process_detail", args=[project.slug])
    if not request.POST.get("confirmed"):
        step = (
            project.steps.order_by("position", "id")[position - 1 : position].first()
            if position > 0
            else None
        )
        if step is None:
            raise Http404
        return confirm_page(
            request,
            title=f"Remove {step.name}",
            question=f"Remove step {position}, {step.name}, from the process? New releases will not have it; "
            "releases already created keep it.",
            accept="Remove step",
            fields={},
            back=back,
        )
    try:
        removed = services.step_remove(
            project=project, position=position, actor=request.user, source_ip=client_ip(request)
        )
    except DomainError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Removed {removed.name}: new releases no longer have it.")
    return redirect(back)


def _roles(text: str) -> list[str]:
    """Target roles as typed: separated by commas or spaces."""
    return [role for role in text.replace(",", " ").split() if role]


@login_required
@require_http_methods(["GET", "POST"])
def step_add_from_template(request: HttpRequest, slug: str) -> HttpResponse:
    """Choose a template, fill in its parameters and the step's own fields, add the step
    (at the end unless a position is given). A refusal shows on the form, on the parameter
    it names."""
    project = _editable_project(request, slug)
    templates = list(StepTemplate.objects.all())
    chosen = request.POST.get("template") or request.GET.get("template") or ""
    template = next((t for t in templates if str(t.pk) == chosen), None)
    data = request.POST
    context = {
        "title": f"Add step from template · {project.name}",
        "project": project,
        "templates": templates,
        "template": template,
        "teams": Team.objects.order_by("name"),
        "environments": Environment.objects.order_by("name"),
        "step_count": project.steps.count(),
        "name": data.get("name", template.name if template else ""),
        "position": data.get("position", ""),
        "target_roles": data.get("target_roles", ""),
        "chosen_teams": {int(v) for v in data.getlist("responsible_teams") if v.isdigit()},
        "chosen_environments": {int(v) for v in data.getlist("environments") if v.isdigit()},
        "error": None,
        "fields": [],
    }
    # Choosing a template in the list loads its fields alone (htmx); the page otherwise.
    page = "processes/partials/_template_fields.html" if request.htmx else "processes/step_from_template.html"
    if template is None:
        return render(request, page, context)
    parameters = library.template_parameters(template)
    given = {p.name: data.get(f"param-{p.name}", "").replace("\r\n", "\n") for p in parameters}
    context["fields"] = [
        {"parameter": p, "value": given[p.name] if request.method == "POST" else (p.default or "")}
        for p in parameters
    ]
    if request.method == "GET":
        return render(request, page, context)
    position = data.get("position", "").strip()
    try:
        step = library.step_add_from_template(
            project=project,
            template=template,
            # A blank field takes the parameter's default.
            parameters={name: value for name, value in given.items() if value != ""},
            name=context["name"],
            position=int(position) if position.isdigit() else None,
            spec=StepSpec(
                name=context["name"],
                responsible_teams=tuple(Team.objects.filter(pk__in=context["chosen_teams"])),
                environments=tuple(Environment.objects.filter(pk__in=context["chosen_environments"])),
                target_roles=tuple(_roles(context["target_roles"])),
            ),
            actor=request.user,
            source_ip=client_ip(request),
        )
    except DomainError as refusal:
        context["error"] = refusal.message
        for field in context["fields"]:
            name = field["parameter"].name
            if refusal.message.startswith((f"Parameter {name} ", f"{name} ")):
                field["error"] = refusal.message
        return render(request, "processes/step_from_template.html", context, status=400)
    messages.success(request, f"Added {step.name} from {template.name}: new releases take it.")
    return redirect("processes:process_detail", slug=project.slug)


@login_required
@require_POST
def step_update_template(request: HttpRequest, slug: str, position: int) -> HttpResponse:
    """Update to version N: the step made again from its template's current version."""
    project = _editable_project(request, slug)
    try:
        step = library.step_update_from_template(
            project=project, position=position, actor=request.user, source_ip=client_ip(request)
        )
    except DomainError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(
            request,
            f"Step {position} is at version {step.template_version} of {step.template}, in new releases.",
        )
    return redirect("processes:process_detail", slug=project.slug)


@login_required
@require_http_methods(["GET", "POST"])
def step_helper_script(request: HttpRequest, slug: str, position: int) -> HttpResponse:
    """Set, change or remove a manual step's helper script and the roles of the targets it
    runs on: rung 1 to 2 of the ladder (and "Automate this step" takes it to 3)."""
    project = _editable_project(request, slug)
    steps = list(project.steps.select_related("template").order_by("position", "id"))
    if not 1 <= position <= len(steps):
        raise Http404
    step = steps[position - 1]
    context = {
        "title": f"Helper script · {step.name}",
        "project": project,
        "step": step,
        "position": position,
        "script": request.POST.get("script", step.script),
        "target_roles": request.POST.get("target_roles", " ".join(step.target_roles)),
        "error": None,
    }
    if request.method == "POST":
        try:
            services.step_helper_script_set(
                project=project,
                position=position,
                script=context["script"],
                target_roles=_roles(context["target_roles"]),
                actor=request.user,
                source_ip=client_ip(request),
            )
        except DomainError as refusal:
            context["error"] = refusal.message
            return render(request, "processes/step_helper_script.html", context, status=400)
        done = "saved" if context["script"].strip() else "removed"
        messages.success(request, f"Helper script of {step.name} {done}: new releases take it.")
        return redirect("processes:process_detail", slug=project.slug)
    return render(request, "processes/step_helper_script.html", context)
