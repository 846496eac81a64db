from django.urls import path

from variables import views

app_name = "variables"

urlpatterns = [
    path("<slug:slug>/variables/", views.project_variables, name="project_variables"),
]
