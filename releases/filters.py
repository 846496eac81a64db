"""FilterSets of the API's release, deployment and interruption lists.

No page filters these lists yet: My tasks shows what ``?mine=true`` selects, through the same
selector (``interruption_list_actionable``), and the dashboard's group, project and
environment filters narrow a grid that ``selectors.dashboard`` builds, not a queryset. A
list page that gets filters uses these FilterSets, as the API does."""

from django import forms
from django_filters import rest_framework as filters

from releases.choices import DeploymentState
from releases.models import Deployment, Interruption, Release
from releases.selectors import interruption_list_actionable

# Ids are 64-bit signed integers in every database Relman runs on.
MAX_ID = 2**63 - 1


class IdFilter(filters.NumberFilter):
    """An object id: a whole number in range; anything else is a 400, never a lookup the
    database cannot bind."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class ReleaseFilter(filters.FilterSet):
    version = filters.CharFilter(help_text="Exactly this version: a pipeline finds its release by it.")

    class Meta:
        model = Release
        fields = ["version"]


class DeploymentFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="project__slug", help_text="Project slug.")
    environment = filters.CharFilter(field_name="environment__slug", help_text="Environment slug.")
    state = filters.ChoiceFilter(choices=DeploymentState.choices)

    class Meta:
        model = Deployment
        fields = ["project", "environment", "state"]


class InterruptionFilter(filters.FilterSet):
    pending = filters.BooleanFilter(help_text="true: only those still waiting for an answer.")
    mine = filters.BooleanFilter(
        method="filter_mine", help_text="true: only pending ones you hold, or may take and nobody holds."
    )
    deployment = IdFilter(field_name="deployment", help_text="Deployment id.")

    class Meta:
        model = Interruption
        fields = ["pending", "mine", "deployment"]

    def filter_mine(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(pk__in=interruption_list_actionable(self.request.user).values("pk"))
