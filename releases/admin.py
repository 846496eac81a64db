"""What happened, for reading. Releases are created with their process snapshot by the
releases service, and deployments and interruptions change only through the engine, so the
admin never adds them or edits their state; what it may change (a release's notes,
cancelling deployments) it changes through the same services as the pages and the API."""

from django.contrib import admin, messages
from django.db.models import Count
from django.urls import NoReverseMatch
from django.utils.html import format_html

from releases import services
from releases.models import Deployment, DeploymentStep, Freeze, Interruption, Release, ReleaseStep
from relman.admin import ServiceAdminMixin, fields_given, stored
from relman.exceptions import DomainError
from relman.http import client_ip


def _page_link(obj, label: str) -> str:
    try:
        url = obj.get_absolute_url()
    except NoReverseMatch:
        return "—"
    return format_html('<a href="{}">{}</a>', url, label)


class ReadOnlyInline:
    """An inline that shows rows and never adds, edits or removes them."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReleaseStepInline(ReadOnlyInline, admin.StackedInline):
    model = ReleaseStep
    verbose_name = "step (snapshot)"
    verbose_name_plural = "Process snapshot taken when the release was created"
    fields = (
        ("position", "name", "kind", "enabled", "run_condition"),
        ("environments", "excluded_environments"),
        "instructions",
        ("responsible_teams", "block_deployments", "prevent_self_approval"),
        ("script", "timeout_seconds"),
        ("remind_after_minutes", "notify"),
    )
    readonly_fields = (
        "position",
        "name",
        "kind",
        "enabled",
        "run_condition",
        "environments",
        "excluded_environments",
        "instructions",
        "responsible_teams",
        "block_deployments",
        "prevent_self_approval",
        "script",
        "timeout_seconds",
        "remind_after_minutes",
        "notify",
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related("environments", "excluded_environments", "responsible_teams")
        )


@admin.register(Release)
class ReleaseAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """Only the notes are editable; the rest is the record of what was released."""

    list_display = ("version", "project", "created_by", "created_at", "deployment_count")
    list_filter = ("project",)
    list_select_related = ("project", "created_by")
    search_fields = ("version", "project__name", "notes")
    date_hierarchy = "created_at"
    fields = ("project", "version", "notes", "created_by", "created_at", "release_page")
    readonly_fields = ("project", "version", "created_by", "created_at", "release_page")
    inlines = (ReleaseStepInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(deployment_total=Count("deployments"))

    @admin.display(description="Deployments", ordering="deployment_total")
    def deployment_count(self, obj: Release) -> int:
        return obj.deployment_total

    @admin.display(description="Release page")
    def release_page(self, obj: Release) -> str:
        return _page_link(obj, f"Open release {obj.version}")

    def service_save(self, request, form, formsets, change):
        return services.release_update(
            release=Release.objects.select_related("project").get(pk=form.instance.pk),
            notes=form.cleaned_data["notes"],
            actor=request.user,
            source_ip=client_ip(request),
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DeploymentStepInline(ReadOnlyInline, admin.TabularInline):
    model = DeploymentStep
    fields = (
        "position",
        "name",
        "kind_display",
        "state",
        "started_at",
        "finished_at",
        "exit_code",
        "attempts",
        "skip_reason",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("release_step")

    @admin.display(description="Kind")
    def kind_display(self, obj: DeploymentStep) -> str:
        return obj.release_step.get_kind_display()


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    """Viewing only: a deployment's state changes only through the engine."""

    list_display = ("id", "release", "environment", "state", "created_by", "created_at")
    list_display_links = ("id", "release")
    list_filter = ("state", "environment", "project")
    list_select_related = ("release__project", "environment", "created_by")
    search_fields = ("release__version", "project__name", "environment__name")
    date_hierarchy = "created_at"
    fields = (
        "task_page",
        "release",
        "project",
        "environment",
        "state",
        "guided_failure",
        "created_by",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = (DeploymentStepInline,)
    actions = ("cancel_deployments",)

    def get_queryset(self, request):
        # The change page needs these too; a select_related here replaces list_select_related.
        return super().get_queryset(request).select_related(*self.list_select_related)

    def has_cancel_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff

    @admin.action(description="Cancel selected deployments", permissions=["cancel"])
    def cancel_deployments(self, request, queryset):
        """Each through the cancel service, as on the deployment page: the deployer role is
        checked and the cancel logged and audited; a refusal is reported, not fatal."""
        cancelled = 0
        for deployment in queryset.select_related("project", "environment"):
            try:
                services.deployment_cancel(
                    deployment=deployment, actor=request.user, source_ip=client_ip(request)
                )
            except DomainError as exc:
                self.message_user(request, f"Deployment {deployment.pk}: {exc}", messages.ERROR)
            else:
                cancelled += 1
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} deployment(s).", messages.SUCCESS)

    @admin.display(description="Task page")
    def task_page(self, obj: Deployment) -> str:
        return _page_link(obj, f"Open deployment {obj.pk} (task log, interventions, cancel)")


@admin.register(Interruption)
class InterruptionAdmin(ReadOnlyAdmin):
    """Viewing only: interventions are taken and submitted on the deployment page or
    through the API, where eligibility is checked and the submission logged."""

    list_display = (
        "id",
        "title",
        "deployment",
        "type",
        "pending",
        "assignee",
        "created_at",
        "result",
        "guidance",
        "submitted_by",
    )
    list_filter = ("type", "pending", "result", "guidance")
    list_select_related = (
        "deployment__release__project",
        "deployment__environment",
        "assignee",
        "submitted_by",
    )
    search_fields = ("title", "notes", "deployment__release__version", "deployment__project__name")
    date_hierarchy = "created_at"
    fields = (
        "task_page",
        "deployment",
        "step",
        "type",
        "title",
        "instructions",
        "responsible_teams",
        "blocks_deployments",
        "prevent_self_approval",
        "created_at",
        "pending",
        "assignee",
        "taken_at",
        "result",
        "guidance",
        "notes",
        "submitted_by",
        "submitted_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        # A select_related here replaces list_select_related, so it names everything.
        return super().get_queryset(request).select_related(*self.list_select_related, "step__release_step")

    @admin.display(description="Task page")
    def task_page(self, obj: Interruption) -> str:
        return _page_link(obj.deployment, f"Open deployment {obj.deployment_id}")


FREEZE_FIELDS = ("name", "reason", "start", "end", "environments", "projects")


@admin.register(Freeze)
class FreezeAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """Freezes, saved through the freeze services (superusers only, audited)."""

    list_display = ("name", "start", "end", "reason")
    search_fields = ("name", "reason")
    fields = FREEZE_FIELDS
    filter_horizontal = ("environments", "projects")

    def service_save(self, request, form, formsets, change):
        values = fields_given(form, FREEZE_FIELDS)
        if change:
            return services.freeze_update(
                freeze=stored(form.instance), **values, actor=request.user, source_ip=client_ip(request)
            )
        return services.freeze_create(**values, actor=request.user, source_ip=client_ip(request))

    def delete_model(self, request, obj):
        services.freeze_delete(freeze=obj, actor=request.user, source_ip=client_ip(request))
