from django.urls import path

from processes import views

app_name = "processes"

urlpatterns = [
    path("<slug:slug>/process/", views.process_detail, name="process_detail"),
    path("<slug:slug>/process/import/", views.checklist_import, name="checklist_import"),
    path("<slug:slug>/process/steps/<int:position>/automate/", views.step_automate, name="step_automate"),
]
