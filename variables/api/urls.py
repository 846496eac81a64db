from django.urls import path
from rest_framework.routers import SimpleRouter

from variables.api import views

router = SimpleRouter()
router.register("library-variable-sets", views.LibrarySetViewSet, basename="library-variable-set")

urlpatterns = [
    path("projects/<slug:slug>/variables/", views.ProjectVariables.as_view(), name="project-variables"),
    *router.urls,
]
