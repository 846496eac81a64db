from django.contrib import admin
from django.urls import include, path

from releases.views.dashboard import dashboard

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("relman.api_urls")),
    # The home page, without a namespace: LOGIN_REDIRECT_URL names it "dashboard".
    path("", dashboard, name="dashboard"),
    path("", include("teams.urls")),
    path("", include("releases.urls")),
    path("projects/", include("processes.urls")),
]
