"""Shared admin plumbing: the site's titles, the mixin that audits every configuration
change made through the admin (§5 of the specification), and a form base for names that
are unique regardless of case, as the services require."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.db import models
from django.forms import BaseForm, BaseFormSet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from relman.exceptions import DomainError
from relman.http import client_ip
from teams.services import audit_record

admin.site.site_header = "Relman administration"
admin.site.site_title = "Relman"
admin.site.index_title = "Configuration"

# Form fields whose values never go into the audit trail; the event only says they changed.
SECRET_FIELD_MARKERS = ("password", "secret")
SECRET_PLACEHOLDER = "(changed)"


def audit_name(model: type[models.Model] | models.Model) -> str:
    """``PhaseEnvironment`` → ``phase_environment``, the subject word of an audit action."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", model._meta.object_name).lower()


def _audit_value(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, models.QuerySet | list | tuple | set | frozenset):
        return [_audit_value(v) for v in value]
    return value


def form_changes(form: BaseForm) -> dict[str, Any]:
    """The fields the form changed, with their new values (related objects by name)."""
    cleaned = getattr(form, "cleaned_data", {}) or {}
    changes: dict[str, Any] = {}
    for name in form.changed_data:
        if name == "DELETE":
            continue
        if any(marker in name for marker in SECRET_FIELD_MARKERS):
            changes[name] = SECRET_PLACEHOLDER
        else:
            changes[name] = _audit_value(cleaned.get(name))
    return changes


class AuditedAdminMixin:
    """Writes an AuditEvent ``<model>.created|updated|deleted`` for every object the admin
    saves or deletes, in the admin's own transaction, including inline objects and bulk
    deletions. Put it first among the bases: ``class XAdmin(AuditedAdminMixin, ModelAdmin)``.

    ``audit_scope(obj)`` may return ``{"project": …, "environment": …}`` so an event can be
    found by the project or environment it concerns.

    An admin whose ``delete_model`` calls a delete service sets ``bulk_delete = False``;
    the service's refusal (a ``DomainError``) is shown as a message on the object's page.
    """

    bulk_delete = True

    def audit_scope(self, obj: models.Model) -> dict[str, Any]:
        return {}

    def audit(
        self,
        request: HttpRequest,
        obj: models.Model,
        verb: str,
        changes: dict[str, Any] | None = None,
    ) -> None:
        audit_record(
            actor=request.user if request.user.is_authenticated else None,
            action=f"{audit_name(obj)}.{verb}",
            subject=obj,
            changes=changes or {},
            source_ip=client_ip(request),
            **self.audit_scope(obj),
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        changes = form_changes(form)
        if change and not changes:
            return
        self.audit(request, obj, "updated" if change else "created", changes)

    def delete_model(self, request, obj):
        self.audit(request, obj, "deleted")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.audit(request, obj, "deleted")
        super().delete_queryset(request, queryset)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            # The admin's transaction has rolled back: nothing was deleted or logged.
            self.message_user(request, str(exc), messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(
                reverse(
                    f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                    args=[quote(object_id)],
                )
            )

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.bulk_delete:
            actions.pop("delete_selected", None)
        return actions

    def save_formset(self, request, form, formset: BaseFormSet, change):
        for deleted in formset.deleted_forms:
            if deleted.instance.pk is not None:
                self.audit(request, deleted.instance, "deleted")
        deleted_forms = set(formset.deleted_forms)
        initial_count = formset.initial_form_count()
        super().save_formset(request, form, formset, change)
        for index, inline_form in enumerate(formset.forms):
            if inline_form in deleted_forms or not inline_form.has_changed():
                continue
            if inline_form.instance.pk is None:
                continue
            verb = "updated" if index < initial_count else "created"
            self.audit(request, inline_form.instance, verb, form_changes(inline_form))


class UniqueNameForm(forms.ModelForm):
    """Refuses a ``name`` another row already has in any case ("test" next to "Test"),
    as the services and the API do."""

    def clean(self):
        cleaned = super().clean()
        name = (cleaned.get("name") or "").strip()
        if name:
            others = self._meta.model._default_manager.exclude(pk=self.instance.pk)
            if others.filter(name__iexact=name).exists():
                verbose_name = self._meta.model._meta.verbose_name
                article = "An" if verbose_name[:1].lower() in "aeiou" else "A"
                self.add_error("name", f"{article} {verbose_name} named {name} already exists.")
        return cleaned
