from django import forms
from django.contrib import admin, messages

from relman.admin import ServiceAdminMixin, autocomplete_multiple, fields_given, stored
from relman.http import client_ip
from targets.models import Target
from targets.services import target_create, target_delete, target_rotate_token, target_update

TARGET_FIELDS = ("name", "slug", "description", "environments", "roles", "enabled")


class TargetForm(forms.ModelForm):
    environments = autocomplete_multiple(Target, "environments")
    roles = forms.CharField(required=False, help_text="Role tags separated by commas, e.g. db, web.")

    class Meta:
        model = Target
        fields = TARGET_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["environments"] = list(self.instance.environments.all())
            self.initial["roles"] = ", ".join(self.instance.roles)

    def clean_roles(self) -> list[str]:
        return [role.strip() for role in self.cleaned_data["roles"].split(",") if role.strip()]


@admin.register(Target)
class TargetAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """Targets are saved through their services; a new target's agent token, and a rotated
    one, is shown once as a message."""

    form = TargetForm
    list_display = ("name", "slug", "enabled", "status", "last_seen", "hostname", "agent_version")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    actions = ["rotate_token"]

    def get_fields(self, request, obj=None):
        # Returned here, not declared: the admin's checks refuse a many-to-many field with a
        # link model of its own in a declared list; the form declares it, the service saves it.
        return TARGET_FIELDS

    def service_save(self, request, form, formsets, change):
        values = fields_given(form, TARGET_FIELDS)
        if change:
            return target_update(
                target=stored(form.instance), **values, actor=request.user, source_ip=client_ip(request)
            )
        target, token = target_create(**values, actor=request.user, source_ip=client_ip(request))
        _show_token(request, target, token)
        return target

    def delete_model(self, request, obj):
        target_delete(target=obj, actor=request.user, source_ip=client_ip(request))

    @admin.action(description="Rotate the agent token of the selected targets")
    def rotate_token(self, request, queryset):
        for target in queryset:
            _show_token(
                request,
                target,
                target_rotate_token(target=target, actor=request.user, source_ip=client_ip(request)),
            )


def _show_token(request, target: Target, token: str) -> None:
    messages.warning(
        request, f"The agent token of {target.name}, shown this once: {token}", extra_tags="agent-token"
    )
