from django import forms
from django.contrib import admin
from django.db.models import Count, Max

from processes.models import Project, ProjectGroup, Step
from processes.services import StepSpec, process_step_errors
from relman.admin import AuditedAdminMixin, UniqueNameForm
from relman.exceptions import Conflict
from teams.models import RoleGrant

STEP_FIELDSETS = (
    (None, {"fields": (("name", "position"), ("kind", "enabled", "run_condition"))}),
    ("Where it runs", {"fields": ("environments", "excluded_environments")}),
    (
        "Manual intervention",
        {
            "fields": (
                "instructions",
                "responsible_teams",
                ("block_deployments", "prevent_self_approval"),
            )
        },
    ),
    ("Script", {"fields": ("script", "timeout_seconds")}),
)
STEP_AUTOCOMPLETE = ("environments", "excluded_environments", "responsible_teams")


def renumber_steps(project_id: int) -> list[Step]:
    """Numbers the project's steps 1..N in (position, id) order, so the gaps and ties left
    by editing positions by hand disappear. Returns the steps whose position changed."""
    moved = []
    steps = Step.objects.filter(project_id=project_id).select_related("project").order_by("position", "id")
    for number, step in enumerate(steps, start=1):
        if step.position != number:
            step.position = number
            moved.append(step)
    Step.objects.bulk_update(moved, ["position"])
    return moved


class StepForm(forms.ModelForm):
    """Checks a step on its own; a blank position means "at the end of the process"."""

    fill_blank_position = True
    position = forms.IntegerField(
        min_value=0, required=False, help_text="Order in the process; blank puts it at the end."
    )

    class Meta:
        model = Step
        fields = (
            "project",
            "name",
            "position",
            "kind",
            "enabled",
            "environments",
            "excluded_environments",
            "run_condition",
            "instructions",
            "responsible_teams",
            "block_deployments",
            "prevent_self_approval",
            "script",
            "timeout_seconds",
        )

    def clean(self):
        cleaned = super().clean()
        name = cleaned.get("name") or self.instance.name or "(new step)"
        timeout = cleaned.get("timeout_seconds")
        spec = StepSpec(
            name=cleaned.get("name") or "",
            kind=cleaned.get("kind") or self.instance.kind,
            enabled=bool(cleaned.get("enabled")),
            environments=tuple(cleaned.get("environments") or ()),
            excluded_environments=tuple(cleaned.get("excluded_environments") or ()),
            run_condition=cleaned.get("run_condition") or self.instance.run_condition,
            instructions=cleaned.get("instructions") or "",
            responsible_teams=tuple(cleaned.get("responsible_teams") or ()),
            script=cleaned.get("script") or "",
            timeout_seconds=self.instance.timeout_seconds if timeout is None else timeout,
        )
        # The rules the API applies to a process document, for this one step (unique
        # names are the model's constraint, checked by the form and formset).
        for field_name, messages in process_step_errors([spec]).get(0, {}).items():
            if field_name in self.errors:
                continue
            for message in messages:
                self.add_error(field_name if field_name in self.fields else None, f"Step {name}: {message}")
        if self.fill_blank_position and "position" in cleaned and cleaned["position"] is None:
            cleaned["position"] = self._next_position(cleaned.get("project"))
        return cleaned

    def _next_position(self, project: Project | None) -> int:
        project_id = project.pk if project else self.instance.project_id
        if not project_id:
            return 1
        others = Step.objects.filter(project_id=project_id).exclude(pk=self.instance.pk)
        return (others.aggregate(last=Max("position"))["last"] or 0) + 1


class StepInlineForm(StepForm):
    # The formset knows every position being submitted; it fills blank ones.
    fill_blank_position = False


class StepInlineFormSet(forms.BaseInlineFormSet):
    """Blank positions go after every position in the submitted process, in form order."""

    def clean(self):
        super().clean()
        kept = [form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        positions = [form.cleaned_data.get("position") for form in kept]
        next_position = max((p for p in positions if p is not None), default=0) + 1
        for form in kept:
            if form.cleaned_data.get("position") is None:
                form.cleaned_data["position"] = form.instance.position = next_position
                next_position += 1


class StepInline(admin.StackedInline):
    model = Step
    form = StepInlineForm
    formset = StepInlineFormSet
    fieldsets = STEP_FIELDSETS
    autocomplete_fields = STEP_AUTOCOMPLETE
    ordering = ("position", "id")
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(*STEP_AUTOCOMPLETE)


def _refuse_if_in_grant_scope(obj: Project | ProjectGroup, grants) -> None:
    """Deleting a project or group would silently drop it from the role grants scoped to
    it, widening a grant scoped only to it to every project."""
    teams = sorted(set(grants.values_list("team__name", flat=True)))
    if teams:
        raise Conflict(
            f"{obj} is in the scope of role grants of {', '.join(teams)}; remove it from those "
            f"grants first, so that deleting it does not change what they cover.",
            code="in_use",
        )


class ProcessAuditScope:
    """Events about a project or one of its steps carry the project."""

    def audit_scope(self, obj):
        if isinstance(obj, Project):
            return {"project": obj}
        if isinstance(obj, Step):
            return {"project": obj.project}
        return {}


@admin.register(ProjectGroup)
class ProjectGroupAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = UniqueNameForm
    bulk_delete = False
    list_display = ("name", "project_count", "description")
    search_fields = ("name", "description")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(project_total=Count("projects"))

    @admin.display(description="Projects", ordering="project_total")
    def project_count(self, obj: ProjectGroup) -> int:
        return obj.project_total

    def delete_model(self, request, obj):
        _refuse_if_in_grant_scope(obj, RoleGrant.objects.filter(project_groups=obj))
        super().delete_model(request, obj)


@admin.register(Project)
class ProjectAdmin(ProcessAuditScope, AuditedAdminMixin, admin.ModelAdmin):
    form = UniqueNameForm
    bulk_delete = False
    list_display = ("name", "slug", "group", "lifecycle", "step_count", "disabled")
    list_filter = ("group", "lifecycle", "disabled", "guided_failure")
    list_select_related = ("group", "lifecycle")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "group", "lifecycle", "description", "disabled", "guided_failure")
    inlines = (StepInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(step_total=Count("steps"))

    @admin.display(description="Steps", ordering="step_total")
    def step_count(self, obj: Project) -> int:
        return obj.step_total

    def delete_model(self, request, obj):
        _refuse_if_in_grant_scope(obj, RoleGrant.objects.filter(projects=obj))
        super().delete_model(request, obj)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is Step:
            for step in renumber_steps(form.instance.pk):
                self.audit(request, step, "updated", {"position": step.position})


@admin.register(Step)
class StepAdmin(ProcessAuditScope, AuditedAdminMixin, admin.ModelAdmin):
    form = StepForm
    list_display = ("name", "project", "position", "kind", "enabled", "run_condition")
    list_filter = ("kind", "enabled", "run_condition", "project")
    list_select_related = ("project",)
    search_fields = ("name", "project__name", "instructions")
    ordering = ("project__name", "position", "id")
    fieldsets = ((None, {"fields": ("project",)}), *STEP_FIELDSETS)
    autocomplete_fields = ("project", *STEP_AUTOCOMPLETE)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        project_ids = {obj.project_id}
        if change and "project" in form.changed_data:
            project_ids.add(form.initial.get("project"))
        self._renumber(request, project_ids)

    def delete_model(self, request, obj):
        project_id = obj.project_id
        super().delete_model(request, obj)
        self._renumber(request, {project_id})

    def delete_queryset(self, request, queryset):
        project_ids = set(queryset.values_list("project_id", flat=True))
        super().delete_queryset(request, queryset)
        self._renumber(request, project_ids)

    def _renumber(self, request, project_ids) -> None:
        for project_id in project_ids:
            if project_id:
                for step in renumber_steps(project_id):
                    self.audit(request, step, "updated", {"position": step.position})
