from django.contrib import admin
from django.urls import include, path

from releases.views.dashboard import dashboard
from relman import health, metrics

urlpatterns = [
    # Operations: probes for supervisors and load balancers, figures for Prometheus.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("relman.api_urls")),
    # The home page, without a namespace: LOGIN_REDIRECT_URL names it "dashboard".
    path("", dashboard, name="dashboard"),
    path("", include("teams.urls")),
    path("", include("releases.urls")),
    path("projects/", include("processes.urls")),
    path("", include("notifications.urls")),
    path("", include("insights.urls")),
    path("projects/", include("variables.urls")),
    path("targets/", include("targets.urls")),
]
