from django.urls import path

from insights import views

app_name = "insights"

urlpatterns = [
    path("insights/", views.overview, name="overview"),
    path("projects/<slug:slug>/insights/", views.project_insights, name="project_insights"),
]
