"""Step templates and helper scripts on the Process tab: "Add step from template", "Update to
version N" and "Edit helper script" — for project editors only."""

import pytest

from processes.library import step_add_from_template, step_template_create, step_template_update
from processes.models import Step, StepTemplate
from teams.models import AuditEvent

LAST_STEP = "Check the application loads as expected"


def process_url(octopus) -> str:
    return f"/projects/{octopus.project.slug}/process/"


def add_url(octopus) -> str:
    return f"{process_url(octopus)}add-from-template/"


def health_check() -> StepTemplate:
    return StepTemplate.objects.get(name="HTTP health check")


@pytest.fixture
def greeted(root, octopus, editor):
    template = step_template_create(
        name="Greet", kind="script", script="echo Hi #{Who}\n", parameters=[{"name": "Who"}], actor=root
    )
    step = step_add_from_template(
        project=octopus.project, template=template, parameters={"Who": "ops"}, name="Greet", actor=editor
    )
    step_template_update(template=template, script="echo Hello #{Who}\n", actor=root)
    return step


def test_add_a_health_check_from_the_template(signed_in, editor, octopus, django_assert_max_num_queries):
    client = signed_in(editor)
    assert "Add step from template" in client.get(process_url(octopus)).content.decode()
    with django_assert_max_num_queries(12):
        page = client.get(add_url(octopus))
    assert "HTTP health check (version 1)" in page.content.decode()
    with django_assert_max_num_queries(12):
        form = client.get(add_url(octopus), {"template": health_check().pk}).content.decode()
    assert 'id="param-Url"' in form and 'value="200"' in form and "URL" in form

    response = client.post(
        add_url(octopus),
        {
            "template": health_check().pk,
            "name": "Check the site answers",
            "param-Url": "https://#{AppHost}/healthz",
            "param-ExpectedStatus": "200",
            "param-ExpectedText": "Welcome",
            "param-Retries": "",
            "position": "8",
            "target_roles": "web, edge",
        },
    )
    assert response.status_code == 302
    steps = list(Step.objects.filter(project=octopus.project).order_by("position"))
    step = steps[7]
    assert (step.name, step.kind, step.template, step.template_version) == (
        "Check the site answers",
        "script",
        health_check(),
        1,
    )
    assert step.parameters["Retries"] == "5" and step.target_roles == ["web", "edge"]
    assert steps[8].name == LAST_STEP
    page = client.get(process_url(octopus)).content.decode()
    assert "Added Check the site answers from HTTP health check" in page
    assert "HTTP health check v1" in page


def test_a_missing_parameter_is_shown_on_its_field(signed_in, editor, octopus):
    client = signed_in(editor)
    response = client.post(
        add_url(octopus), {"template": health_check().pk, "name": "Health", "param-Url": ""}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Parameter Url (URL) needs a value: it has no default." in html
    assert 'id="param-Url" name="param-Url" value="" aria-describedby="help-Url" aria-invalid="true"' in html
    assert Step.objects.filter(project=octopus.project).count() == 8


def test_a_sensitive_literal_is_refused_on_the_form(signed_in, editor, octopus):
    backup = StepTemplate.objects.get(name="Back up a PostgreSQL database")
    form = signed_in(editor).get(add_url(octopus), {"template": backup.pk}).content.decode()
    assert "Sensitive: give a reference to a sensitive project variable, like #{DbPassword}" in form
    response = signed_in(editor).post(
        add_url(octopus),
        {
            "template": backup.pk,
            "name": "Backup",
            "param-Database": "app",
            "param-OutputPath": "/b.dump",
            "param-Password": "hunter2",
        },
    )
    assert response.status_code == 400
    assert "make the secret a sensitive project variable" in response.content.decode()
    assert not Step.objects.filter(name="Backup", project=octopus.project).exists()


def test_update_to_version_n(signed_in, editor, octopus, greeted):
    client = signed_in(editor)
    page = client.get(process_url(octopus)).content.decode()
    assert "Made from version 1 of Greet; version 2 is out." in page
    assert "Update to version 2" in page
    response = client.post(f"{process_url(octopus)}steps/{greeted.position}/update-template/")
    assert response.status_code == 302
    step = Step.objects.get(project=octopus.project, name="Greet")
    assert (step.template_version, step.script) == (2, "echo Hello ops\n")
    page = client.get(process_url(octopus)).content.decode()
    assert "is at version 2 of Greet, in new releases" in page
    assert "Update to version" not in page


def test_edit_helper_script_takes_a_step_from_rung_1_to_2(signed_in, editor, octopus):
    client = signed_in(editor)
    page = client.get(process_url(octopus)).content.decode()
    manual = Step.objects.filter(project=octopus.project, kind="manual", script="").count()
    assert page.count(">Add helper script</a>") == manual
    url = f"{process_url(octopus)}steps/8/helper-script/"
    assert "Helper script" in client.get(url).content.decode()
    response = client.post(url, {"script": "curl -fsS http://app/healthz", "target_roles": "web"})
    assert response.status_code == 302
    step = Step.objects.get(project=octopus.project, name=LAST_STEP)
    assert (step.automation_level, step.script, step.target_roles) == (
        2,
        "curl -fsS http://app/healthz",
        ["web"],
    )
    assert AuditEvent.objects.filter(action="process.updated", project_id=octopus.project.pk).exists()
    page = client.get(process_url(octopus)).content.decode()
    assert "Helper script of Check the application loads as expected saved" in page
    assert "Edit helper script" in page and "Automate this step" in page

    client.post(url, {"script": "", "target_roles": ""})
    assert Step.objects.get(project=octopus.project, name=LAST_STEP).automation_level == 1


def test_a_bad_target_role_is_shown_on_the_helper_script_form(signed_in, editor, octopus):
    response = signed_in(editor).post(
        f"{process_url(octopus)}steps/1/helper-script/", {"script": "echo", "target_roles": "no/slash"}
    )
    assert response.status_code == 400
    assert 'class="field__error" role="alert"' in response.content.decode()


@pytest.mark.parametrize("persona", ["sarah", "vera"])
def test_non_editors_see_no_actions_and_are_refused(signed_in, request, persona, octopus, greeted):
    client = signed_in(request.getfixturevalue(persona))
    page = client.get(process_url(octopus)).content.decode()
    assert "Add step from template" not in page and "Update to version" not in page
    assert "Add helper script" not in page and "Edit helper script" not in page
    assert client.get(add_url(octopus)).status_code == 404
    assert client.post(add_url(octopus), {"template": health_check().pk, "param-Url": "x"}).status_code == 404
    assert client.post(f"{process_url(octopus)}steps/9/update-template/").status_code == 404
    assert client.post(f"{process_url(octopus)}steps/1/helper-script/", {"script": "x"}).status_code == 404
    assert Step.objects.get(project=octopus.project, name="Greet").template_version == 1
    assert Step.objects.get(project=octopus.project, position=1).script == ""


def test_choosing_a_template_loads_its_fields_alone_with_htmx(signed_in, editor, octopus):
    response = signed_in(editor).get(
        add_url(octopus), {"template": health_check().pk}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.startswith('<div id="template-fields">') and "<html" not in html
    assert 'id="param-ExpectedStatus"' in html
