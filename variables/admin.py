from django import forms
from django.contrib import admin

from relman.admin import ServiceAdminMixin, autocomplete_multiple, kept_forms, stored
from relman.http import client_ip
from variables.models import LibraryVariableSet, Variable
from variables.services import VariableSpec, library_set_create, library_set_delete, library_set_update


class WordsField(forms.CharField):
    """Roles or target slugs, separated by spaces or commas."""

    def prepare_value(self, value):
        return " ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [word for word in (value or "").replace(",", " ").split() if word]


class VariableInlineForm(forms.ModelForm):
    """A value of the set. A sensitive value is never put back into the page: left empty,
    the stored one is kept."""

    new_value = forms.CharField(
        label="Value",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 1}),
        help_text="Sensitive: leave empty to keep the stored value.",
    )
    environments = autocomplete_multiple(Variable, "environments")
    roles = WordsField(required=False)
    targets = WordsField(required=False, help_text="Target slugs.")

    class Meta:
        model = Variable
        fields = ("name", "sensitive", "roles", "targets")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        variable = self.instance
        if variable.pk:
            self.fields["environments"].initial = list(variable.environments.all())
            if not variable.sensitive:
                self.fields["new_value"].initial = variable.value

    def spec(self) -> VariableSpec:
        data = self.cleaned_data
        value = data["new_value"]
        keep = self.instance.pk
        return VariableSpec(
            name=data["name"],
            value=None if data["sensitive"] and not value and keep else value,
            sensitive=data["sensitive"],
            environments=list(data["environments"]),
            roles=data["roles"],
            targets=data["targets"],
            keep=keep,
        )


class VariableInline(admin.TabularInline):
    model = Variable
    form = VariableInlineForm
    fk_name = "library_set"
    extra = 0

    def get_fields(self, request, obj=None):
        # Given here, not declared: the admin's checks refuse a many-to-many field with a
        # link model of its own in a declared list; the form declares it, the service saves it.
        return ("name", "new_value", "sensitive", "environments", "roles", "targets")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("environments")


@admin.register(LibraryVariableSet)
class LibraryVariableSetAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)
    fields = ("name", "description")
    inlines = [VariableInline]

    def service_save(self, request, form, formsets, change):
        values = {
            "name": form.cleaned_data["name"],
            "description": form.cleaned_data["description"],
            "variables": [variable_form.spec() for variable_form in kept_forms(formsets[0])],
            "actor": request.user,
            "source_ip": client_ip(request),
        }
        if change:
            return library_set_update(library_set=stored(form.instance), **values)
        return library_set_create(**values)

    def delete_model(self, request, obj):
        library_set_delete(library_set=obj, actor=request.user, source_ip=client_ip(request))
