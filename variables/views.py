"""A project's Variables tab: its values in a table (sensitive ones masked), edited one row
at a time by project editors; each save replaces the project's document through the same
service as the API's PUT."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from lifecycles.models import Environment
from processes.models import Project
from relman.exceptions import DomainError
from relman.http import client_ip, confirm_page
from variables import selectors, services
from variables.models import LibraryVariableSet, Variable
from variables.resolution import MASK
from variables.services import VariableSpec


@login_required
@require_http_methods(["GET", "POST"])
def project_variables(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(Project.objects.visible_to(request.user).select_related("group"), slug=slug)
    can_edit = services.can_edit_variables(request.user, project)
    variables = selectors.owned_by(project=project)
    context = {
        "title": f"{project.name} variables",
        "project": project,
        "variables": variables,
        "library_sets": selectors.included_sets(project),
        "all_library_sets": LibraryVariableSet.objects.all(),
        "environments": Environment.objects.order_by("sort_order", "name"),
        "can_edit": can_edit,
        "mask": MASK,
        "editing": _int(request.GET.get("edit")),
        "error": None,
        "error_row": None,
        "posted": None,
    }
    if request.method == "GET":
        context["edit_row"] = next((_kept(v) for v in variables if v.pk == context["editing"]), None)
        return render(request, "variables/project_variables.html", context)
    if not can_edit:
        raise Http404
    if request.POST.get("action") == "library_sets":
        # Sets already included keep their precedence; newly ticked ones come after them.
        before = context["library_sets"]
        ticked = list(
            LibraryVariableSet.objects.filter(
                pk__in=[i for i in request.POST.getlist("library_sets") if i.isdigit()]
            )
        )
        services.project_variables_replace(
            project=project,
            variables=[_kept(v) for v in variables],
            library_sets=[s for s in before if s in ticked] + [s for s in ticked if s not in before],
            actor=request.user,
            source_ip=client_ip(request),
        )
        messages.success(request, "Library variable sets saved.")
        return redirect("variables:project_variables", slug=project.slug)
    row = _int(request.POST.get("id"))
    if row is not None and not any(v.pk == row for v in variables):
        raise Http404
    deleting = request.POST.get("action") == "delete"
    if deleting and not request.POST.get("confirmed"):
        victim = next(v for v in variables if v.pk == row)
        return confirm_page(
            request,
            title="Delete variable value",
            question=f"Delete the value {victim.entry(plain=False).describe()}?",
            accept="Delete",
            fields={"id": row, "action": "delete"},
            back=request.path,
        )
    specs = [_kept(v) for v in variables if v.pk != row]
    posted = None if deleting else _posted(request, row)
    if posted is not None:
        specs.insert(next((i for i, v in enumerate(variables) if v.pk == row), len(specs)), posted)
    try:
        services.project_variables_replace(
            project=project,
            variables=specs,
            library_sets=context["library_sets"],
            actor=request.user,
            source_ip=client_ip(request),
        )
    except DomainError as refusal:
        context.update(error=refusal.message, error_row=row if row is not None else "new", editing=row)
        context.update(posted=posted if row is None else None, edit_row=posted)
        return render(request, "variables/project_variables.html", context, status=400)
    messages.success(request, "Variables saved." if not deleting else "Value deleted.")
    return redirect("variables:project_variables", slug=project.slug)


def _int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


def _kept(variable: Variable) -> VariableSpec:
    return VariableSpec(
        name=variable.name,
        value=None if variable.sensitive else variable.value,
        sensitive=variable.sensitive,
        environments=list(variable.environments.all()),
        roles=variable.roles,
        targets=variable.targets,
        keep=variable.pk,
    )


def _posted(request: HttpRequest, row: int | None) -> VariableSpec:
    """The row as submitted; a sensitive value left empty keeps the stored one."""
    data = request.POST
    sensitive = data.get("sensitive") == "on"
    value = data.get("value", "")
    return VariableSpec(
        name=data.get("name", "").strip(),
        value=None if sensitive and not value and row is not None else value,
        sensitive=sensitive,
        environments=list(
            Environment.objects.filter(pk__in=[i for i in data.getlist("environments") if i.isdigit()])
        ),
        roles=_words(data.get("roles", "")),
        targets=_words(data.get("targets", "")),
        keep=row,
    )


def _words(raw: str) -> list[str]:
    return [word.strip() for word in raw.replace(",", " ").split() if word.strip()]
