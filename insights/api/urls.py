from django.urls import path

from insights.api import views

urlpatterns = [
    path(
        "projects/<slug:project_slug>/insights/", views.ProjectInsightsView.as_view(), name="project-insights"
    ),
    path("insights/", views.OverviewView.as_view(), name="insights-overview"),
]
