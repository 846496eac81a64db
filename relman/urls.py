from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("relman.api_urls")),
    path("", include("teams.urls")),
    path("", include("releases.urls")),
    path("projects/", include("processes.urls")),
]
