"""The REST API, ``/api/v1/``: each app's routes, the OpenAPI schema and its docs."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from relman.api import NotFoundView

app_name = "api"

urlpatterns = [
    path("", include("teams.api.urls")),
    path("", include("lifecycles.api.urls")),
    path("", include("processes.api.urls")),
    path("", include("targets.api.urls")),
    path("", include("releases.api.urls")),
    path("", include("notifications.api.urls")),
    path("", include("insights.api.urls")),
    path("", include("variables.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    # Last: everything else under /api/v1/ ending in a slash (paths without one are first
    # redirected to it by APPEND_SLASH, as for the real endpoints).
    re_path(r"^.*/$", NotFoundView.as_view(), name="not-found"),
]
