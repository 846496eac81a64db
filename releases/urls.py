from django.urls import path

from releases import views_evidence
from releases.views import deployments, freezes, interruptions, preferences, projects, releases

app_name = "releases"

# The dashboard itself is the site's home page, mounted by relman/urls.py.
urlpatterns = [
    path("dashboard/filters/", preferences.dashboard_filters, name="dashboard_filters"),
    path("tasks/", interruptions.interruption_list, name="interruption_list"),
    path("projects/<slug:slug>/", projects.project_detail, name="project_detail"),
    path("releases/<int:pk>/", releases.release_detail, name="release_detail"),
    path("releases/<int:pk>/deploy/", releases.deployment_create, name="deployment_create"),
    path("deployments/<int:pk>/", deployments.deployment_detail, name="deployment_detail"),
    path("deployments/<int:pk>/live/", deployments.deployment_live, name="deployment_live"),
    path("deployments/<int:pk>/log/", deployments.deployment_log, name="deployment_log"),
    path("deployments/<int:pk>/cancel/", deployments.deployment_cancel, name="deployment_cancel"),
    path("interruptions/<int:pk>/take/", interruptions.interruption_take, name="interruption_take"),
    path("interruptions/<int:pk>/submit/", interruptions.interruption_submit, name="interruption_submit"),
    path(
        "interruptions/<int:pk>/run-helper-script/",
        interruptions.interruption_run_helper,
        name="interruption_run_helper",
    ),
    path(
        "interruptions/<int:pk>/stop-helper-script/",
        interruptions.interruption_stop_helper,
        name="interruption_stop_helper",
    ),
    path("releases/<int:pk>/evidence/", views_evidence.release_evidence, name="release_evidence"),
    path("freezes/", freezes.freeze_list, name="freeze_list"),
]
