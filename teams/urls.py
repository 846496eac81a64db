"""Signing in and out, the user's own pages and the audit trail: the top-level names the
settings refer to (LOGIN_URL "login", LOGOUT_REDIRECT_URL "login"), so this module has no
namespace. The home page ("dashboard", LOGIN_REDIRECT_URL) is the releases dashboard,
mounted by relman/urls.py."""

from django.contrib.auth import views as auth_views
from django.urls import path

from teams import views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="teams/login.html",
            redirect_authenticated_user=True,
            extra_context={"title": "Sign in"},
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("me/", views.me, name="me"),
    path("me/api-keys/", views.api_key_list, name="api_key_list"),
    path("me/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("audit/", views.audit_list, name="audit_list"),
]
