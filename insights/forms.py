from django import forms

from insights.selectors import DEFAULT_DAYS, MAX_DAYS
from lifecycles.models import Environment


class InsightsFilterForm(forms.Form):
    """The window of the Insights pages: the last N days, and (on a project's page) one of
    the environments the user sees, or all."""

    days = forms.IntegerField(min_value=1, max_value=MAX_DAYS, initial=DEFAULT_DAYS, required=False)
    environment = forms.ChoiceField(required=False)

    def __init__(self, *args, environments: list[Environment] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if environments is None:
            del self.fields["environment"]
            return
        self.environments = {e.slug: e for e in environments}
        self.fields["environment"].choices = [("", "All environments")] + [
            (e.slug, e.name) for e in environments
        ]

    def clean_days(self) -> int:
        return self.cleaned_data["days"] or DEFAULT_DAYS

    def clean_environment(self) -> Environment | None:
        return self.environments.get(self.cleaned_data["environment"])
