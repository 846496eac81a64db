"""Step templates through the API (SPEC §11): the library's endpoints, and steps made from
templates in the process document, each refusal tried."""

import pytest

from processes.library import step_template_update
from processes.models import Step, StepTemplate
from teams.models import AuditEvent

TEMPLATES = "/api/v1/step-templates/"
MD = "/api/v1/projects/manual-deployment/"
PROCESS = f"{MD}process/"


def health_check() -> StepTemplate:
    return StepTemplate.objects.get(name="HTTP health check")


def greet_body(**changes) -> dict:
    return {
        "name": "Greet",
        "kind": "script",
        "script": "echo Hello #{Who}\n",
        "parameters": [{"name": "Who", "label": "Whom", "help": "", "default": "world", "sensitive": False}],
        **changes,
    }


# --- the library -------------------------------------------------------------------------------


def test_everyone_signed_in_reads_the_library(api, sarah, django_assert_max_num_queries):
    client = api(sarah)
    with django_assert_max_num_queries(6):
        response = client.get(TEMPLATES)
    assert response.status_code == 200
    names = [t["name"] for t in response.json()["results"]]
    assert "HTTP health check" in names and len(names) == 6
    one = client.get(f"{TEMPLATES}{health_check().pk}/").json()
    assert one["version"] == 1 and one["shipped"] is True and one["kind"] == "script"
    assert one["parameters"][1] == {
        "name": "ExpectedStatus",
        "label": "Expected status",
        "help": "The HTTP status of a healthy answer.",
        "default": "200",
        "sensitive": False,
    }
    assert api().get(TEMPLATES).status_code == 401


def test_a_superuser_creates_replaces_and_deletes_a_template(api, root):
    client = api(root)
    created = client.post(TEMPLATES, greet_body(), format="json")
    assert created.status_code == 201, created.json()
    url = f"{TEMPLATES}{created.json()['id']}/"
    assert created.json()["version"] == 1

    same = client.put(url, greet_body(), format="json")
    assert same.json()["version"] == 1
    changed = client.put(url, greet_body(script="echo Hi #{Who}\n"), format="json")
    assert changed.status_code == 200 and changed.json()["version"] == 2
    assert [
        e.action for e in AuditEvent.objects.filter(action__startswith="step_template.").order_by("id")
    ] == [
        "step_template.created",
        "step_template.updated",
    ]
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_writes_are_refused_for_a_project_editor(api, edith, octopus):
    client = api(edith)
    assert client.post(TEMPLATES, greet_body(), format="json").status_code == 403
    url = f"{TEMPLATES}{health_check().pk}/"
    assert client.put(url, greet_body(), format="json").status_code == 403
    assert client.delete(url).status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "code", "detail"),
    [
        (greet_body(name="HTTP health check"), 409, "duplicate_name", "already exists"),
        (greet_body(script="curl '#{Who}'"), 400, "invalid_script", "inside quotes"),
        (greet_body(kind="script", script=""), 400, "script_required", "needs a script"),
        (
            greet_body(parameters=[{"name": "Pw", "sensitive": True, "default": "x"}]),
            400,
            "invalid_parameters",
            "",
        ),
    ],
)
def test_invalid_templates_are_refused(api, root, body, status, code, detail):
    response = api(root).post(TEMPLATES, body, format="json")
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code and detail in response.json()["detail"]


def test_delete_in_use_is_409_naming_the_projects(api, root, edith, octopus):
    document = api(edith).get(PROCESS).json()
    document["steps"].append(
        {"name": "Health", "template": health_check().pk, "parameters": {"Url": "http://x"}}
    )
    assert api(edith).put(PROCESS, document, format="json").status_code == 200
    response = api(root).delete(f"{TEMPLATES}{health_check().pk}/")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "HTTP health check is used by steps of the projects Manual Deployment, so it cannot be deleted.",
        "code": "in_use",
    }


# --- the process document ------------------------------------------------------------------------


def test_a_step_from_a_template_round_trips(api, edith, octopus):
    client = api(edith)
    document = client.get(PROCESS).json()
    document["steps"].append(
        {
            "name": "Check the application answers",
            "template": health_check().pk,
            "parameters": {"Url": "https://#{AppHost}/healthz", "ExpectedText": "it's ok"},
            "environments": ["manual-test"],
            "target_roles": ["web"],
        }
    )
    response = client.put(PROCESS, document, format="json")
    assert response.status_code == 200, response.json()
    step = response.json()["steps"][-1]
    assert step["kind"] == "script" and step["automation_level"] == 3
    assert step["template"] == health_check().pk and step["template_version"] == 1
    assert step["parameters"] == {
        "Url": "https://#{AppHost}/healthz",
        "ExpectedStatus": "200",
        "ExpectedText": "it's ok",
        "Retries": "5",
        "DelaySeconds": "10",
    }
    assert "url='https://#{AppHost}/healthz'" in step["script"]
    assert "expected_text='it'\"'\"'s ok'" in step["script"]
    assert step["environments"] == ["manual-test"] and step["target_roles"] == ["web"]

    again = client.get(PROCESS).json()
    before = AuditEvent.objects.filter(action="process.updated").count()
    assert client.put(PROCESS, again, format="json").json() == again
    assert AuditEvent.objects.filter(action="process.updated").count() == before


def test_a_step_not_yet_updated_round_trips_at_its_version(api, edith, root, octopus):
    client = api(edith)
    document = client.get(PROCESS).json()
    document["steps"].append(
        {"name": "Health", "template": health_check().pk, "parameters": {"Url": "http://x"}}
    )
    client.put(PROCESS, document, format="json")
    step_template_update(template=health_check(), timeout_seconds=60, actor=root)

    stored = client.get(PROCESS).json()
    assert stored["steps"][-1]["template_version"] == 1 and stored["steps"][-1]["timeout_seconds"] == 600
    assert client.put(PROCESS, stored, format="json").json() == stored

    # Without the template's fields, the step is made from the current version.
    del stored["steps"][-1]["timeout_seconds"], stored["steps"][-1]["script"], stored["steps"][-1]["kind"]
    updated = client.put(PROCESS, stored, format="json").json()["steps"][-1]
    assert (updated["template_version"], updated["timeout_seconds"]) == (2, 60)


def test_a_script_that_differs_from_the_templates_is_refused(api, edith, octopus):
    document = {
        "steps": [
            {
                "name": "Health",
                "template": health_check().pk,
                "parameters": {"Url": "http://x"},
                "script": "true",
            }
        ]
    }
    response = api(edith).put(PROCESS, document, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["steps[0].script"][0].startswith(
        "The script differs from what HTTP health check (version 1) makes with these parameters"
    )


@pytest.mark.parametrize(
    ("step", "field", "message"),
    [
        ({"template": 99999}, "steps[0].template", "Unknown step template id 99999."),
        (
            {"template": "health"},
            "steps[0].template",
            "A step template is referenced by its integer id, not str.",
        ),
        (
            {"template": "TEMPLATE"},
            "steps[0].parameters",
            "Parameter Url (URL) needs a value: it has no default.",
        ),
        (
            {"template": "TEMPLATE", "parameters": {"Url": "u", "Nope": "x"}},
            "steps[0].parameters",
            "Nope is not",
        ),
        ({"parameters": {"Url": "u"}}, "steps[0].parameters", "Parameters are only for a step made"),
    ],
)
def test_bad_template_steps_are_400_naming_the_problem(api, edith, octopus, step, field, message):
    if step.get("template") == "TEMPLATE":
        step["template"] = health_check().pk
    response = api(edith).put(PROCESS, {"steps": [{"name": "Health", **step}]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][field][0].startswith(message)
    assert Step.objects.filter(project=octopus.project).count() == 8


def test_a_sensitive_literal_never_reaches_the_step_the_answer_or_the_trail(api, edith, octopus):
    backup = StepTemplate.objects.get(name="Back up a PostgreSQL database")
    step = {
        "name": "Backup",
        "template": backup.pk,
        "parameters": {"Database": "app", "OutputPath": "/b/app.dump", "Password": "s3cr3t-hunter2"},
    }
    response = api(edith).put(PROCESS, {"steps": [step]}, format="json")
    assert response.status_code == 400
    assert "s3cr3t-hunter2" not in response.content.decode()
    assert (
        "make the secret a sensitive project variable" in response.json()["errors"]["steps[0].parameters"][0]
    )
    assert not Step.objects.filter(script__contains="s3cr3t").exists()
    assert not AuditEvent.objects.filter(changes__icontains="s3cr3t").exists()

    step["parameters"]["Password"] = "#{DbPassword}"
    response = api(edith).put(PROCESS, {"steps": [step]}, format="json")
    assert response.status_code == 200, response.json()
    made = response.json()["steps"][0]
    assert made["parameters"]["Password"] == "#{DbPassword}"
    assert 'password="${RELMAN_VAR_DBPASSWORD?' in made["script"]
