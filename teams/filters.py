"""FilterSets for the teams app, shared by list pages and the API."""

import django_filters

from teams.models import AuditEvent


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor__username", help_text="Username of the actor.")
    action = django_filters.CharFilter(help_text='e.g. "deployment.created"')
    project = django_filters.CharFilter(field_name="project__slug", help_text="Project slug.")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "project"]


# "from" is a Python keyword, so these two cannot be declared in the class body.
AuditEventFilter.base_filters["from"] = django_filters.IsoDateTimeFilter(
    field_name="timestamp", lookup_expr="gte", help_text="Events at or after this time (ISO 8601)."
)
AuditEventFilter.base_filters["to"] = django_filters.IsoDateTimeFilter(
    field_name="timestamp", lookup_expr="lt", help_text="Events before this time (ISO 8601)."
)
