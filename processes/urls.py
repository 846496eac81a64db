from django.urls import path

from processes import views

app_name = "processes"

urlpatterns = [
    path("<slug:slug>/process/", views.process_detail, name="process_detail"),
    path("<slug:slug>/process/import/", views.checklist_import, name="checklist_import"),
    path("<slug:slug>/process/steps/<int:position>/automate/", views.step_automate, name="step_automate"),
    path("<slug:slug>/process/steps/<int:position>/remove/", views.step_remove, name="step_remove"),
    path(
        "<slug:slug>/process/add-from-template/", views.step_add_from_template, name="step_add_from_template"
    ),
    path(
        "<slug:slug>/process/steps/<int:position>/update-template/",
        views.step_update_template,
        name="step_update_template",
    ),
    path(
        "<slug:slug>/process/steps/<int:position>/helper-script/",
        views.step_helper_script,
        name="step_helper_script",
    ),
]
