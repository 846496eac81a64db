from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from lifecycles.choices import PhaseRule
from lifecycles.models import Environment, Lifecycle, Phase, PhaseEnvironment
from lifecycles.services import (
    PhaseEnvironmentSpec,
    PhaseSpec,
    environment_create,
    environment_delete,
    environment_update,
    lifecycle_create,
    lifecycle_delete,
    lifecycle_phase_errors,
    lifecycle_update,
)
from relman.admin import ServiceAdminMixin, fields_given, kept_forms, stored
from relman.http import client_ip

ENVIRONMENT_FIELDS = ("name", "slug", "description", "sort_order")


@admin.register(Environment)
class EnvironmentAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "sort_order", "lifecycle_list")
    list_editable = ("sort_order",)
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "sort_order", "description")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("phases__lifecycle")

    @admin.display(description="Lifecycles")
    def lifecycle_list(self, obj: Environment) -> str:
        return ", ".join(sorted({f"{phase.lifecycle.name} ({phase.name})" for phase in obj.phases.all()}))

    def service_save(self, request, form, formsets, change):
        values = fields_given(form, ENVIRONMENT_FIELDS)
        if change:
            return environment_update(
                environment=stored(form.instance), **values, actor=request.user, source_ip=client_ip(request)
            )
        return environment_create(**values, actor=request.user, source_ip=client_ip(request))

    def delete_model(self, request, obj):
        environment_delete(environment=obj, actor=request.user, source_ip=client_ip(request))


class PhaseForm(forms.ModelForm):
    """Checks what a phase says on its own: ``minimum`` is set (at least 1) exactly when
    the rule is "minimum". What depends on its environments is checked with
    ``lifecycle_phase_errors`` where they are known (``PhaseInlineFormSet``,
    ``PhaseEnvironmentFormSet``)."""

    class Meta:
        model = Phase
        fields = ("lifecycle", "name", "position", "rule", "minimum")

    def clean(self):
        cleaned = super().clean()
        rule = cleaned.get("rule")
        minimum = cleaned.get("minimum")
        name = cleaned.get("name") or self.instance.name or "(new phase)"
        if rule == PhaseRule.MINIMUM and not minimum:
            self.add_error(
                "minimum",
                f"Phase {name}: the rule “minimum” needs a minimum number of environments (at least 1).",
            )
        elif rule != PhaseRule.MINIMUM and minimum is not None:
            self.add_error(
                "minimum",
                f"Phase {name}: a minimum applies only to the rule “minimum”; leave it empty.",
            )
        return cleaned


def _phase_spec(phase: Phase, environments) -> PhaseSpec:
    return PhaseSpec(
        name=phase.name or "",
        environments=tuple(
            PhaseEnvironmentSpec(environment, automatic) for environment, automatic in environments
        ),
        rule=phase.rule,
        minimum=phase.minimum,
    )


def _saved_environments(phase: Phase) -> list[tuple[Environment, bool]]:
    if phase.pk is None:
        return []
    return [(pe.environment, pe.automatic) for pe in phase.phase_environments.all()]


def _submitted_environments(formset) -> list[tuple[Environment, bool]]:
    return [
        (form.cleaned_data["environment"], bool(form.cleaned_data.get("automatic")))
        for form in kept_forms(formset)
        if form.cleaned_data.get("environment")
    ]


def _other_phases(phase: Phase) -> list[Phase]:
    """The phases of the phase's lifecycle but this one, as stored, in order."""
    return list(
        Phase.objects.filter(lifecycle_id=phase.lifecycle_id)
        .exclude(pk=phase.pk)
        .order_by("position", "id")
        .prefetch_related("phase_environments__environment")
    )


def _phase_messages(
    phase: Phase, spec: PhaseSpec, errors: dict[str, list[str]], *, on_lifecycle_page: bool = False
) -> list[str]:
    """The service's complaints about one phase that its form has not already made."""
    messages = []
    for field_name, field_messages in errors.items():
        if field_name == "rule":
            continue  # the form's choices already refuse an unknown rule
        if field_name == "minimum" and not (phase.rule == PhaseRule.MINIMUM and phase.minimum):
            continue  # PhaseForm reports a missing or stray minimum
        for message in field_messages:
            message = f"Phase {phase.name}: {message}"
            if on_lifecycle_page and field_name == "minimum" and not spec.environments:
                message += " Add its environments on the phase's page first."
            messages.append(message)
    return messages


class PhaseInlineFormSet(forms.BaseInlineFormSet):
    """The phases of a lifecycle page, checked with the rules the API applies; each
    phase counts its saved environments."""

    def clean(self):
        super().clean()
        kept = kept_forms(self)
        specs = [_phase_spec(form.instance, _saved_environments(form.instance)) for form in kept]
        for index, errors in lifecycle_phase_errors(specs).items():
            form = kept[index]
            for message in _phase_messages(form.instance, specs[index], errors, on_lifecycle_page=True):
                form.add_error(None, message)


class PhaseInline(admin.TabularInline):
    model = Phase
    form = PhaseForm
    formset = PhaseInlineFormSet
    fields = ("name", "position", "rule", "minimum", "environment_list")
    readonly_fields = ("environment_list",)
    ordering = ("position", "id")
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("phase_environments__environment")

    @admin.display(description="Environments (edit on the phase's page)")
    def environment_list(self, obj: Phase) -> str:
        return _environment_summary(obj) if obj.pk else "Save, then add environments."


def _environment_summary(phase: Phase) -> str:
    return ", ".join(
        f"{pe.environment.name} ({'automatic' if pe.automatic else 'manual'})"
        for pe in phase.phase_environments.all()
    )


@admin.register(Lifecycle)
class LifecycleAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """A lifecycle and its phases are saved as one document: the phases in the order of
    their positions, with the environments each already has."""

    list_display = ("name", "phase_summary", "project_count", "description")
    search_fields = ("name", "description")
    fields = ("name", "description")
    inlines = (PhaseInline,)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(project_total=Count("projects", distinct=True))
            .prefetch_related("phases")
        )

    @admin.display(description="Phases")
    def phase_summary(self, obj: Lifecycle) -> str:
        return " → ".join(phase.name for phase in obj.phases.all())

    @admin.display(description="Projects", ordering="project_total")
    def project_count(self, obj: Lifecycle) -> int:
        return obj.project_total

    def service_save(self, request, form, formsets, change):
        (phase_formset,) = (formset for formset in formsets if formset.model is Phase)
        # A stable sort: phases given the same position stay in the order shown.
        phase_forms = sorted(
            kept_forms(phase_formset), key=lambda phase_form: phase_form.cleaned_data["position"]
        )
        values = {
            "name": form.cleaned_data["name"],
            "description": form.cleaned_data["description"],
            "phases": [_phase_spec(f.instance, _saved_environments(f.instance)) for f in phase_forms],
        }
        if change:
            return lifecycle_update(
                lifecycle=stored(form.instance), **values, actor=request.user, source_ip=client_ip(request)
            )
        return lifecycle_create(**values, actor=request.user, source_ip=client_ip(request))

    def delete_model(self, request, obj):
        lifecycle_delete(lifecycle=obj, actor=request.user, source_ip=client_ip(request))


class PhaseEnvironmentFormSet(forms.BaseInlineFormSet):
    """The environments of a phase page, checked with the rules the API applies against
    the other phases of the lifecycle: an environment belongs to at most one phase, and a
    "minimum" rule asks for no more environments than the phase has."""

    def clean(self):
        phase: Phase = self.instance
        environments = _submitted_environments(self)
        seen: set[int] = set()
        for environment, _ in environments:
            if environment.pk in seen:
                raise ValidationError(f"{environment} is listed twice in phase {phase.name}.")
            seen.add(environment.pk)
        super().clean()
        if not phase.lifecycle_id:
            return
        others = _other_phases(phase)
        # This phase goes last, so an environment it shares is reported against it.
        spec = _phase_spec(phase, environments)
        specs = [_phase_spec(other, _saved_environments(other)) for other in others] + [spec]
        errors = lifecycle_phase_errors(specs).get(len(specs) - 1, {})
        messages = _phase_messages(phase, spec, errors)
        if messages:
            raise ValidationError(messages)


class PhaseEnvironmentInline(admin.TabularInline):
    model = PhaseEnvironment
    formset = PhaseEnvironmentFormSet
    fields = ("environment", "automatic")
    autocomplete_fields = ("environment",)
    extra = 1
    verbose_name = "environment"
    verbose_name_plural = "Environments (automatic: deployed when the previous phase completes)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("environment")


@admin.register(Phase)
class PhaseAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """A phase is saved, added or deleted by saving its whole lifecycle, the other phases
    as they are. A phase stays in the lifecycle it was added to."""

    form = PhaseForm
    list_display = ("name", "lifecycle", "position", "rule", "minimum", "environments_display")
    list_filter = ("lifecycle", "rule")
    list_select_related = ("lifecycle",)
    search_fields = ("name", "lifecycle__name")
    ordering = ("lifecycle__name", "position", "id")
    fields = ("lifecycle", "name", "position", "rule", "minimum", "lifecycle_link")
    inlines = (PhaseEnvironmentInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("phase_environments__environment")

    def get_readonly_fields(self, request, obj=None):
        return ("lifecycle", "lifecycle_link") if obj else ("lifecycle_link",)

    def service_save(self, request, form, formsets, change):
        phase: Phase = form.instance
        (environment_formset,) = (formset for formset in formsets if formset.model is PhaseEnvironment)
        # The phase takes the place its position gives it; among equal positions, the
        # older phase comes first, as the lists show them.
        entries = [
            ((other.position, other.pk), _phase_spec(other, _saved_environments(other)))
            for other in _other_phases(phase)
        ]
        entries.append(
            (
                (phase.position, phase.pk or float("inf")),
                _phase_spec(phase, _submitted_environments(environment_formset)),
            )
        )
        lifecycle = lifecycle_update(
            lifecycle=phase.lifecycle,
            phases=[spec for _, spec in sorted(entries, key=lambda entry: entry[0])],
            actor=request.user,
            source_ip=client_ip(request),
        )
        return lifecycle.phases.get(name=phase.name.strip())

    def delete_model(self, request, obj):
        lifecycle_update(
            lifecycle=obj.lifecycle,
            phases=[_phase_spec(other, _saved_environments(other)) for other in _other_phases(obj)],
            actor=request.user,
            source_ip=client_ip(request),
        )

    @admin.display(description="Environments")
    def environments_display(self, obj: Phase) -> str:
        return _environment_summary(obj)

    @admin.display(description="All phases")
    def lifecycle_link(self, obj: Phase) -> str:
        if not obj.lifecycle_id:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:lifecycles_lifecycle_change", args=[obj.lifecycle_id]),
            f"Back to lifecycle {obj.lifecycle}",
        )
