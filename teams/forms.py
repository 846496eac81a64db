"""Forms of the teams pages."""

from datetime import timedelta

from django import forms

from teams.models import ApiKey

EXPIRY_CHOICES = [
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
    ("", "Never"),
]


class ApiKeyForm(forms.Form):
    purpose = forms.CharField(
        max_length=ApiKey._meta.get_field("purpose").max_length,
        help_text='What the key is for, e.g. "CI pipeline for GoodHealth". It is shown in the audit trail.',
    )
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        choices=EXPIRY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        initial="90",
    )

    @property
    def expires_in(self) -> timedelta | None:
        days = self.cleaned_data.get("expires_in_days")
        return timedelta(days=days) if days else None
