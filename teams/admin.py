import json

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from relman.admin import AuditedAdminMixin, UniqueNameForm
from relman.http import client_ip
from teams.models import ApiKey, AuditEvent, RoleGrant, Team, User
from teams.services import api_key_revoke, team_delete


def _add_display_name(fieldsets):
    """Django's user fieldsets with ``display_name`` first among the personal fields."""
    result = []
    for name, options in fieldsets:
        fields = tuple(options["fields"])
        if "first_name" in fields:
            options = {**options, "fields": ("display_name", *fields)}
        result.append((name, options))
    return tuple(result)


@admin.register(User)
class UserAdmin(AuditedAdminMixin, DjangoUserAdmin):
    fieldsets = (
        *_add_display_name(DjangoUserAdmin.fieldsets),
        ("Teams", {"fields": ("team_links",)}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "display_name",
                    "email",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    readonly_fields = ("team_links",)
    list_display = ("username", "display_name", "email", "team_list", "is_active", "is_superuser")
    list_filter = ("is_active", "is_superuser", "is_staff", "teams")
    search_fields = ("username", "display_name", "first_name", "last_name", "email")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("teams")

    @admin.display(description="Teams")
    def team_list(self, obj: User) -> str:
        return ", ".join(team.name for team in obj.teams.all())

    @admin.display(description="Member of")
    def team_links(self, obj: User) -> str:
        teams = obj.teams.all() if obj.pk else []
        if not teams:
            return "No team. Add the user to a team on the team's page."
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:teams_team_change", args=[team.pk]), team.name) for team in teams),
        )

    def user_change_password(self, request, id, form_url=""):
        # Django's view saves the password itself, outside save_model: audit it here, in
        # the same transaction, and only when the stored hash actually changed.
        with transaction.atomic():
            users = self.model._default_manager.filter(pk=unquote(id))
            before = users.values_list("password", flat=True).first()
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST":
                user = users.first()
                if user is not None and user.password != before:
                    self.audit(
                        request,
                        user,
                        "password_changed",
                        {"usable_password": user.has_usable_password()},
                    )
        return response


class RoleGrantInline(admin.TabularInline):
    model = RoleGrant
    fields = ("role", "project_groups", "projects", "environments")
    autocomplete_fields = ("project_groups", "projects", "environments")
    extra = 0
    verbose_name = "role"
    verbose_name_plural = (
        "Roles — scope: project groups and projects combine (none: every project); "
        "environments restrict further (none: every environment)"
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("project_groups", "projects", "environments")


@admin.register(Team)
class TeamAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = UniqueNameForm
    bulk_delete = False
    list_display = ("name", "member_count", "role_summary", "description")
    search_fields = ("name", "description")
    list_filter = ("roles__role",)
    filter_horizontal = ("members",)
    fields = ("name", "description", "members")
    inlines = (RoleGrantInline,)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(member_total=Count("members", distinct=True))
            .prefetch_related("roles")
        )

    @admin.display(description="Members", ordering="member_total")
    def member_count(self, obj: Team) -> int:
        return obj.member_total

    @admin.display(description="Roles")
    def role_summary(self, obj: Team) -> str:
        return ", ".join(sorted({grant.get_role_display() for grant in obj.roles.all()}))

    def delete_model(self, request, obj):
        # The service refuses a team responsible for steps (it audits the deletion itself).
        team_delete(team=obj, actor=request.user, source_ip=client_ip(request))


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked"))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now)
            )
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are listed and revoked here, never created: the secret must be shown once, so
    they come from the ``create_api_key`` command or the API."""

    list_display = (
        "prefix",
        "user",
        "purpose",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "active",
    )
    list_filter = (ApiKeyStatusFilter,)
    list_select_related = ("user",)
    search_fields = ("prefix", "purpose", "user__username", "user__display_name")
    date_hierarchy = "created_at"
    fields = ("user", "purpose", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke_keys",)

    @admin.display(description="Active", boolean=True)
    def active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("teams.change_apikey")

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke_keys(self, request, queryset):
        revoked = 0
        with transaction.atomic():
            for api_key in queryset.filter(revoked_at__isnull=True):
                api_key_revoke(api_key=api_key, actor=request.user, source_ip=client_ip(request))
                revoked += 1
        if revoked:
            self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)
        else:
            self.message_user(request, "The selected keys were already revoked.", messages.INFO)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail, read-only: events are append-only."""

    list_display = (
        "timestamp",
        "actor_label",
        "action",
        "subject_type",
        "subject_id",
        "project_label",
        "environment_label",
        "source_ip",
        "sequence",
    )
    list_filter = ("action", "subject_type")
    search_fields = ("actor_label", "subject_id")
    date_hierarchy = "timestamp"
    # The trail grows without bound; skip the unfiltered COUNT(*) on every page.
    show_full_result_count = False
    fields = (
        "timestamp",
        "actor",
        "actor_label",
        "action",
        "subject_type",
        "subject_id",
        "project_label",
        "environment_label",
        "source_ip",
        "changes_pretty",
        "sequence",
        "previous_hash",
        "hash",
    )
    readonly_fields = fields

    @admin.display(description="Changes")
    def changes_pretty(self, obj: AuditEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.changes, indent=2, sort_keys=True))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
