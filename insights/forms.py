from django import forms

from insights.selectors import DEFAULT_DAYS, MAX_DAYS
from lifecycles.models import Environment


class InsightsFilterForm(forms.Form):
    """The window of the Insights pages: the last N days, and one environment or all."""

    days = forms.IntegerField(min_value=1, max_value=MAX_DAYS, initial=DEFAULT_DAYS, required=False)
    environment = forms.ModelChoiceField(
        queryset=Environment.objects.none(),
        to_field_name="slug",
        required=False,
        empty_label="All environments",
    )

    def __init__(self, *args, environments=None, **kwargs):
        super().__init__(*args, **kwargs)
        if environments is None:
            del self.fields["environment"]
        else:
            self.fields["environment"].queryset = Environment.objects.filter(
                pk__in=[e.pk for e in environments]
            )

    def clean_days(self) -> int:
        return self.cleaned_data["days"] or DEFAULT_DAYS
