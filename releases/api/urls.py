from django.urls import path
from rest_framework.routers import SimpleRouter

from releases.api import agent, views

router = SimpleRouter()
router.register("releases", views.ReleaseViewSet, basename="release")
router.register("deployments", views.DeploymentViewSet, basename="deployment")
router.register("interruptions", views.InterruptionViewSet, basename="interruption")
router.register("freezes", views.FreezeViewSet, basename="freeze")

urlpatterns = [
    path(
        "projects/<slug:project_slug>/releases/", views.ProjectReleaseList.as_view(), name="project-releases"
    ),
    path(
        "releases/<int:release_id>/deployments/",
        views.ReleaseDeploymentList.as_view(),
        name="release-deployments",
    ),
    *agent.urlpatterns,
    *router.urls,
]
