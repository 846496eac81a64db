from django.urls import path
from rest_framework.routers import SimpleRouter

from teams.api import views

router = SimpleRouter()
router.register("users", views.UserViewSet, basename="user")
router.register("teams", views.TeamViewSet, basename="team")
router.register("audit", views.AuditEventViewSet, basename="audit-event")

urlpatterns = [path("me/", views.MeView.as_view(), name="me"), *router.urls]
