from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("webhooks/", views.webhook_list, name="webhook_list"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook_detail"),
    path("webhooks/<int:pk>/test/", views.webhook_send_test, name="webhook_send_test"),
    path("webhooks/deliveries/<int:pk>/redeliver/", views.delivery_redeliver, name="delivery_redeliver"),
    path("me/notifications/", views.email_preference, name="email_preference"),
]
