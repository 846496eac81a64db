from django import forms
from django.contrib import admin, messages

from notifications.choices import DEPLOYMENT_EVENTS
from notifications.models import Attempt, Delivery, Webhook
from notifications.services import webhook_create, webhook_delete, webhook_update
from relman.admin import ServiceAdminMixin, autocomplete_multiple, fields_given, stored
from relman.http import client_ip

WEBHOOK_FIELDS = ("name", "url", "events", "projects", "environments", "format", "active")


class WebhookForm(forms.ModelForm):
    url = forms.URLField(max_length=1000, assume_scheme="https")
    projects = autocomplete_multiple(Webhook, "projects")
    environments = autocomplete_multiple(Webhook, "environments")
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in DEPLOYMENT_EVENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )

    class Meta:
        model = Webhook
        fields = WEBHOOK_FIELDS


@admin.register(Webhook)
class WebhookAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """Saves through the services; a new webhook's secret is shown once, in a message."""

    form = WebhookForm
    list_display = ("name", "url", "format", "active")

    def service_save(self, request, form, formsets, change):
        values = fields_given(form, WEBHOOK_FIELDS)
        source = {"actor": request.user, "source_ip": client_ip(request), "server_host": request.get_host()}
        if change:
            return webhook_update(webhook=stored(form.instance), **values, **source)
        webhook, secret = webhook_create(**values, **source)
        messages.warning(
            request,
            f"The secret of {webhook.name} is {secret} — copy it now: it is not shown again.",
        )
        return webhook

    def delete_model(self, request, obj):
        webhook_delete(webhook=obj, actor=request.user, source_ip=client_ip(request))


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    readonly_fields = ("number", "started_at", "duration_ms", "status_code", "error", "response", "succeeded")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Read-only: deliveries are written by the outbox; the webhook's page redelivers."""

    list_display = ("uuid", "channel", "webhook", "address", "state", "attempts", "created_at")
    list_filter = ("channel", "state")
    list_select_related = ("webhook",)
    inlines = [AttemptInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
