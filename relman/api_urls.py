"""The REST API, ``/api/v1/``: each app's routes, the OpenAPI schema and its docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

app_name = "api"

urlpatterns = [
    path("", include("teams.api.urls")),
    path("", include("lifecycles.api.urls")),
    path("", include("processes.api.urls")),
    path("", include("releases.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
