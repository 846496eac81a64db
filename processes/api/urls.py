from rest_framework.routers import SimpleRouter

from processes.api import views

router = SimpleRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register("step-templates", views.StepTemplateViewSet, basename="step-template")

urlpatterns = router.urls
