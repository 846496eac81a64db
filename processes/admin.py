from dataclasses import replace

from django import forms
from django.contrib import admin
from django.db.models import Count, Max

from processes.library import (
    TEMPLATE_FIELDS,
    step_template_create,
    step_template_delete,
    step_template_update,
)
from processes.models import Project, ProjectGroup, Step, StepTemplate
from processes.services import (
    StepSpec,
    process_replace,
    process_step_errors,
    project_create,
    project_delete,
    project_group_create,
    project_group_delete,
    project_group_update,
    project_update,
    step_spec,
)
from relman.admin import ServiceAdminMixin, autocomplete_multiple, fields_given, kept_forms, stored
from relman.http import client_ip

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
                ("remind_after_minutes", "notify"),
                ("required_approvals", "timeout_minutes", "on_timeout"),
            )
        },
    ),
    (
        "Script",
        {
            "fields": ("script", "timeout_seconds", "target_roles"),
            "description": "On a manual step, the script is its helper script (rung 2 of the automation ladder).",
        },
    ),
)
STEP_LINKS = ("environments", "excluded_environments", "responsible_teams")
PROJECT_FIELDS = ("name", "slug", "group", "lifecycle", "description", "disabled", "guided_failure")


def _step_spec(cleaned: dict, step: Step) -> StepSpec:
    """A step form's values as the service takes them; what the form leaves out stays as
    the step has it."""
    timeout = cleaned.get("timeout_seconds")
    approvals = cleaned.get("required_approvals")
    spec = StepSpec(
        name=cleaned.get("name") or "",
        kind=cleaned.get("kind") or step.kind,
        enabled=bool(cleaned.get("enabled")),
        environments=tuple(cleaned.get("environments") or ()),
        excluded_environments=tuple(cleaned.get("excluded_environments") or ()),
        run_condition=cleaned.get("run_condition") or step.run_condition,
        instructions=cleaned.get("instructions") or "",
        responsible_teams=tuple(cleaned.get("responsible_teams") or ()),
        block_deployments=bool(cleaned.get("block_deployments")),
        prevent_self_approval=bool(cleaned.get("prevent_self_approval")),
        script=cleaned.get("script") or "",
        timeout_seconds=step.timeout_seconds if timeout is None else timeout,
        remind_after_minutes=cleaned.get("remind_after_minutes"),
        notify=tuple(cleaned.get("notify") or ()),
        target_roles=tuple(cleaned.get("target_roles") or ()),
        required_approvals=step.required_approvals if approvals is None else approvals,
        timeout_minutes=cleaned.get("timeout_minutes"),
        on_timeout=cleaned.get("on_timeout") or step.on_timeout,
    )
    return _kept_template(spec, step)


def _kept_template(spec: StepSpec, step: Step) -> StepSpec:
    """The spec still made from the step's template while the fields the template gives are
    as stored; changed by hand, the step is the template's no longer."""
    if not step.pk:
        return spec
    stored = Step.objects.filter(pk=step.pk).select_related("template").first()
    if stored is None or stored.template is None:
        return spec
    if any(getattr(spec, name) != getattr(stored, name) for name in TEMPLATE_FIELDS):
        return spec
    return replace(
        spec, template=stored.template, template_version=stored.template_version, parameters=stored.parameters
    )


def _stored_steps(project: Project, *, without: Step | None = None) -> list[tuple[tuple, StepSpec]]:
    """The project's other steps as stored, each with the key the lists order it by."""
    steps = (
        Step.objects.filter(project=project)
        .exclude(pk=without.pk if without else None)
        .order_by("position", "id")
        .select_related("template")
        .prefetch_related(*STEP_LINKS)
    )
    return [((step.position, step.pk), step_spec(step)) for step in steps]


def _replace_process(request, project: Project, entries: list[tuple[tuple, StepSpec]]) -> list[Step]:
    """Saves the project's whole process, steps ordered by their keys, numbered 1..N."""
    return process_replace(
        project=project,
        steps=[spec for _, spec in sorted(entries, key=lambda entry: entry[0])],
        actor=request.user,
        source_ip=client_ip(request),
    )


class StepForm(forms.ModelForm):
    """Checks a step on its own; a blank position means "at the end of the process"."""

    fill_blank_position = True
    position = forms.IntegerField(
        min_value=0, required=False, help_text="Order in the process; blank puts it at the end."
    )
    environments = autocomplete_multiple(Step, "environments")
    excluded_environments = autocomplete_multiple(Step, "excluded_environments")
    responsible_teams = autocomplete_multiple(Step, "responsible_teams")

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
            "remind_after_minutes",
            "notify",
            "target_roles",
            "required_approvals",
            "timeout_minutes",
            "on_timeout",
        )

    def clean(self):
        cleaned = super().clean()
        name = cleaned.get("name") or self.instance.name or "(new step)"
        spec = _step_spec(cleaned, self.instance)
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
        kept = kept_forms(self)
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
    ordering = ("position", "id")
    extra = 0
    show_change_link = True

    def get_fieldsets(self, request, obj=None):
        # Returned here, not declared: the admin's checks refuse many-to-many fields with
        # link models of their own in a declared list, as it could not save them; the form
        # declares them and process_replace saves them.
        return STEP_FIELDSETS

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(*STEP_LINKS)


@admin.register(ProjectGroup)
class ProjectGroupAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ("name", "project_count", "description")
    search_fields = ("name", "description")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(project_total=Count("projects"))

    @admin.display(description="Projects", ordering="project_total")
    def project_count(self, obj: ProjectGroup) -> int:
        return obj.project_total

    def service_save(self, request, form, formsets, change):
        values = fields_given(form, ("name", "description"))
        if change:
            return project_group_update(
                group=stored(form.instance), **values, actor=request.user, source_ip=client_ip(request)
            )
        return project_group_create(**values, actor=request.user, source_ip=client_ip(request))

    def delete_model(self, request, obj):
        project_group_delete(group=obj, actor=request.user, source_ip=client_ip(request))


@admin.register(Project)
class ProjectAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """The project's fields go through ``project_create``/``project_update`` and its steps,
    all of them at once, through ``process_replace``."""

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

    def service_save(self, request, form, formsets, change):
        values = fields_given(form, PROJECT_FIELDS)
        if change:
            project = project_update(
                project=stored(form.instance), **values, actor=request.user, source_ip=client_ip(request)
            )
        else:
            project = project_create(**values, actor=request.user, source_ip=client_ip(request))
        (step_formset,) = (formset for formset in formsets if formset.model is Step)
        # Ordered by position; among equal positions, in the order shown.
        entries = [
            (
                (step_form.cleaned_data["position"], index),
                _step_spec(step_form.cleaned_data, step_form.instance),
            )
            for index, step_form in enumerate(kept_forms(step_formset))
        ]
        _replace_process(request, project, entries)
        return project

    def delete_model(self, request, obj):
        project_delete(project=obj, actor=request.user, source_ip=client_ip(request))


@admin.register(Step)
class StepAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """A step is saved, added or deleted by saving its project's whole process, the other
    steps as they are. A step stays in the project it was added to."""

    form = StepForm
    list_display = ("name", "project", "position", "kind", "enabled", "run_condition")
    list_filter = ("kind", "enabled", "run_condition", "project")
    list_select_related = ("project",)
    search_fields = ("name", "project__name", "instructions")
    ordering = ("project__name", "position", "id")
    autocomplete_fields = ("project",)

    def get_fieldsets(self, request, obj=None):
        # Returned here, not declared: see StepInline.get_fieldsets.
        return ((None, {"fields": ("project",)}), *STEP_FIELDSETS)

    def get_readonly_fields(self, request, obj=None):
        return ("project",) if obj else ()

    def service_save(self, request, form, formsets, change):
        step: Step = form.instance
        entries = _stored_steps(step.project, without=step if change else None)
        # Among equal positions the older step comes first, as the lists show them.
        entries.append(((step.position, step.pk or float("inf")), _step_spec(form.cleaned_data, step)))
        saved = _replace_process(request, step.project, entries)
        return next(saved_step for saved_step in saved if saved_step.name == step.name.strip())

    def delete_model(self, request, obj):
        _replace_process(request, obj.project, _stored_steps(obj.project, without=obj))


class StepTemplateForm(forms.ModelForm):
    # As written: a script's trailing newline is part of it, and an unchanged form must not
    # count as an edit.
    instructions = forms.CharField(widget=forms.Textarea, required=False, strip=False)
    script = forms.CharField(
        widget=forms.Textarea,
        required=False,
        strip=False,
        help_text=StepTemplate._meta.get_field("script").help_text,
    )

    class Meta:
        model = StepTemplate
        fields = ("name", "description", "kind", "instructions", "script", "timeout_seconds", "parameters")

    def clean_instructions(self) -> str:
        return self.cleaned_data["instructions"].replace("\r\n", "\n")

    def clean_script(self) -> str:
        # Browsers send a text area's lines ending in CR LF; bash reads the CR as part of a word.
        return self.cleaned_data["script"].replace("\r\n", "\n")


@admin.register(StepTemplate)
class StepTemplateAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """Saved through ``step_template_create``/``step_template_update``, so a change raises
    the version and is audited as one made through the API is."""

    form = StepTemplateForm
    list_display = ("name", "kind", "version", "shipped", "step_count")
    list_filter = ("kind", "shipped")
    search_fields = ("name", "description")
    fields = ("name", "description", "kind", "instructions", "script", "timeout_seconds", "parameters")
    readonly_fields = ("version", "shipped")

    def get_fields(self, request, obj=None):
        return (*self.fields, *self.readonly_fields) if obj else self.fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(step_total=Count("steps"))

    @admin.display(description="Steps using it", ordering="step_total")
    def step_count(self, obj: StepTemplate) -> int:
        return obj.step_total

    def service_save(self, request, form, formsets, change):
        values = {name: form.cleaned_data.get(name) for name in self.fields}
        values["description"] = values["description"] or ""
        values["instructions"] = values["instructions"] or ""
        values["script"] = values["script"] or ""
        values["parameters"] = values["parameters"] or []
        if change:
            return step_template_update(
                template=stored(form.instance), **values, actor=request.user, source_ip=client_ip(request)
            )
        return step_template_create(**values, actor=request.user, source_ip=client_ip(request))

    def delete_model(self, request, obj):
        step_template_delete(template=obj, actor=request.user, source_ip=client_ip(request))
