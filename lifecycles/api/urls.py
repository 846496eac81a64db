from rest_framework.routers import SimpleRouter

from lifecycles.api import views

router = SimpleRouter()
router.register("environments", views.EnvironmentViewSet, basename="environment")
router.register("lifecycles", views.LifecycleViewSet, basename="lifecycle")

urlpatterns = router.urls
