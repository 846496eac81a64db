from django.urls import path

from processes import views

app_name = "processes"

urlpatterns = [
    path("<slug:slug>/process/", views.process_detail, name="process_detail"),
]
