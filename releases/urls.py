from django.urls import path

from releases import views, views_evidence

app_name = "releases"

urlpatterns = [
    path("tasks/", views.interruption_list, name="interruption_list"),
    path("releases/<int:pk>/", views.release_detail, name="release_detail"),
    path("releases/<int:pk>/deploy/", views.deployment_create, name="deployment_create"),
    path("deployments/<int:pk>/", views.deployment_detail, name="deployment_detail"),
    path("deployments/<int:pk>/live/", views.deployment_live, name="deployment_live"),
    path("deployments/<int:pk>/log/", views.deployment_log, name="deployment_log"),
    path("deployments/<int:pk>/cancel/", views.deployment_cancel, name="deployment_cancel"),
    path("interruptions/<int:pk>/take/", views.interruption_take, name="interruption_take"),
    path("interruptions/<int:pk>/submit/", views.interruption_submit, name="interruption_submit"),
    path("releases/<int:pk>/evidence/", views_evidence.release_evidence, name="release_evidence"),
]
