import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.admin import sensitive_post_parameters_m
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from relman.admin import ServiceAdminMixin, autocomplete_multiple, fields_given, kept_forms, stored
from relman.exceptions import DomainError
from relman.http import client_ip
from teams.models import ApiKey, AuditEvent, RoleGrant, Team, User
from teams.services import (
    RoleSpec,
    api_key_revoke,
    team_create,
    team_delete,
    team_update,
    user_create,
    user_set_password,
    user_update,
)

# What the user page changes through ``user_update``.
USER_FIELDS = ("display_name", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser")


@admin.register(User)
class UserAdmin(ServiceAdminMixin, DjangoUserAdmin):
    """Users are created, changed and given passwords through the services. Roles come
    from teams, not from Django's groups and permissions, so those are not offered; a
    user is deactivated rather than deleted, so the history they made keeps its actor."""

    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("display_name", "first_name", "last_name", "email")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
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
    list_display = ("username", "display_name", "email", "team_list", "is_active", "is_superuser")
    list_filter = ("is_active", "is_superuser", "is_staff", "teams")
    search_fields = ("username", "display_name", "first_name", "last_name", "email")

    def get_readonly_fields(self, request, obj=None):
        return ("username", "last_login", "date_joined", "team_links") if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False

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

    def service_save(self, request, form, formsets, change):
        if change:
            return user_update(
                user=stored(form.instance),
                **fields_given(form, USER_FIELDS),
                actor=request.user,
                source_ip=client_ip(request),
            )
        data = form.cleaned_data
        return user_create(
            username=data["username"],
            display_name=data["display_name"],
            email=data["email"],
            password=data["password1"] if data["set_usable_password"] else None,
            actor=request.user,
            source_ip=client_ip(request),
        )

    @sensitive_post_parameters_m
    def user_change_password(self, request, id, form_url=""):
        """Django's page, saving through ``user_set_password``. Anything but a valid
        submission (a GET, form errors, conflicting buttons) is left to Django's view."""
        user = self.get_object(request, unquote(id))
        if request.method != "POST" or user is None or not self.has_change_permission(request, user):
            return super().user_change_password(request, id, form_url)
        form = self.change_password_form(user, request.POST)
        if not form.is_valid() or not (
            form.cleaned_data["set_usable_password"] or "unset-password" in request.POST
        ):
            return super().user_change_password(request, id, form_url)
        try:
            with transaction.atomic():
                user_set_password(
                    user=user,
                    password=form.cleaned_data["password1"]
                    if form.cleaned_data["set_usable_password"]
                    else None,
                    actor=request.user,
                    source_ip=client_ip(request),
                )
                self.log_change(request, user, self.construct_change_message(request, form, None))
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        if user.has_usable_password():
            self.message_user(request, "Password changed successfully.", messages.SUCCESS)
        else:
            self.message_user(request, "Password-based authentication was disabled.", messages.SUCCESS)
        # Changing one's own password keeps one signed in.
        update_session_auth_hash(request, user)
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:teams_user_change", args=[user.pk]))


class RoleGrantForm(forms.ModelForm):
    project_groups = autocomplete_multiple(RoleGrant, "project_groups")
    projects = autocomplete_multiple(RoleGrant, "projects")
    environments = autocomplete_multiple(RoleGrant, "environments")

    class Meta:
        model = RoleGrant
        fields = ("role", "project_groups", "projects", "environments")


class RoleGrantInline(admin.TabularInline):
    model = RoleGrant
    form = RoleGrantForm
    extra = 0
    verbose_name = "role"
    verbose_name_plural = (
        "Roles — scope: project groups and projects combine (none: every project); "
        "environments restrict further (none: every environment)"
    )

    def get_fields(self, request, obj=None):
        # Returned here, not declared: the admin's checks refuse many-to-many fields with
        # link models of their own in a declared list, as it could not save them; the form
        # declares them and team_create/team_update save them.
        return RoleGrantForm._meta.fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("project_groups", "projects", "environments")


@admin.register(Team)
class TeamAdmin(ServiceAdminMixin, admin.ModelAdmin):
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

    def service_save(self, request, form, formsets, change):
        data = form.cleaned_data
        (grants,) = (formset for formset in formsets if formset.model is RoleGrant)
        roles = [
            RoleSpec(
                role=grant.cleaned_data["role"],
                project_groups=list(grant.cleaned_data["project_groups"]),
                projects=list(grant.cleaned_data["projects"]),
                environments=list(grant.cleaned_data["environments"]),
            )
            for grant in kept_forms(grants)
        ]
        values = {
            "name": data["name"],
            "description": data["description"],
            "members": list(data["members"]),
            "roles": roles,
        }
        if change:
            return team_update(
                team=stored(form.instance), **values, actor=request.user, source_ip=client_ip(request)
            )
        return team_create(**values, actor=request.user, source_ip=client_ip(request))

    def delete_model(self, request, obj):
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
