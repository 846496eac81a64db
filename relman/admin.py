"""Shared admin plumbing: the site's titles, and the mixin through which every
configuration admin writes with the services, so a change made here is checked and
audited exactly as one made through the API (§5 of the specification)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import quote
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.db import models
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from relman.exceptions import DomainError

admin.site.site_header = "Relman administration"
admin.site.site_title = "Relman"
admin.site.index_title = "Configuration"


class ServiceAdminMixin:
    """Saves and deletes through the services: the admin never writes a row itself.

    A subclass implements ``service_save(request, form, formsets, change)``, which hands
    the validated form and its inline formsets to the service and returns the object the
    service saved, and ``delete_model`` with the service's delete. Put the mixin first
    among the bases: ``class XAdmin(ServiceAdminMixin, ModelAdmin)``.

    A service's refusal (a ``DomainError``) rolls the admin's transaction back whole and
    shows on the page: on the form, above the fields, as it was submitted; after a delete
    or a change on the list, as a message. Deleting several rows at once is not offered,
    as it would bypass the delete service.
    """

    def service_save(
        self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool
    ) -> models.Model:
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        """Nothing is written here: ``save_related`` gives the service the form together
        with its inlines, which it saves as one change."""

    def save_related(self, request, form, formsets, change):
        saved = self.service_save(request, form, formsets, change)
        # The admin goes on with the form's object (its log entry, the redirect to its
        # page); a service that recreates rows gives it a new primary key.
        form.instance.pk = saved.pk
        form.instance._state.adding = False

    def construct_change_message(self, request, form, formsets, add=False):
        # The inline formsets were never saved, so they have no list of what they saved;
        # the audit trail records the details.
        return super().construct_change_message(request, form, [], add)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "service_refusal", None)
        if refusal is None:
            return form

        class RefusedForm(form):
            def clean(self):
                cleaned = super().clean()
                self.add_error(None, str(refusal))
                return cleaned

        return RefusedForm

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            # The transaction has rolled back; show the submitted form again, with the
            # refusal as its error and nothing saved.
            request.service_refusal = exc
            return super().changeform_view(request, object_id, form_url, extra_context)

    def response_change(self, request, obj):
        response = super().response_change(request, obj)
        if "_continue" not in request.POST:
            return response
        # Django goes back to the page it came from, but a service that recreates rows
        # (the steps of a process, the phases of a lifecycle) gave the object a new key.
        opts = self.model._meta
        url = reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)]
        )
        preserved = {"preserved_filters": self.get_preserved_filters(request), "opts": opts}
        return HttpResponseRedirect(add_preserved_filters(preserved, url))

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def get_deleted_objects(self, objs, request):
        # The delete service decides what may not be deleted, and says why in its own
        # words; the page lists what the deletion takes with it.
        deleted, model_count, perms_needed, _ = super().get_deleted_objects(objs, request)
        return deleted, model_count, perms_needed, []

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
        actions.pop("delete_selected", None)
        return actions


def autocomplete_multiple(model: type[models.Model], name: str) -> forms.ModelMultipleChoiceField:
    """A form field, searched as you type, for a many-to-many field that goes through a
    link model of its own, which the admin leaves out of its forms. The services set it."""
    field = model._meta.get_field(name)
    return forms.ModelMultipleChoiceField(
        queryset=field.related_model._default_manager.all(),
        required=False,
        widget=AutocompleteSelectMultiple(field, admin.site),
        label=field.verbose_name.capitalize(),
        help_text=field.help_text,
    )


def stored(obj: models.Model) -> models.Model:
    """The object as the database has it: a bound form has already copied its input onto
    its instance, and a service compares what is stored with what it is given."""
    return type(obj)._default_manager.get(pk=obj.pk)


def kept_forms(formset) -> list[forms.BaseForm]:
    """The formset's filled-in forms not marked for deletion, in the order shown."""
    return [form for form in formset.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]


def fields_given(form: forms.BaseForm, names: tuple[str, ...]) -> dict:
    """The form's cleaned values of those ``names`` it has, as keyword arguments for an
    ``<entity>_update`` service (a list page edits only some of them)."""
    return {name: form.cleaned_data[name] for name in names if name in form.cleaned_data}
