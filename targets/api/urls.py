from rest_framework.routers import SimpleRouter

from targets.api import views

router = SimpleRouter()
router.register("targets", views.TargetViewSet, basename="target")

urlpatterns = router.urls
