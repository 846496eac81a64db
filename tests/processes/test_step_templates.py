"""Step templates (SPEC §11): versions, parameter rendering, sensitive parameters, steps made
from templates, "Update to version N", deleting a template in use, and the automation
ladder on a template's step."""

import subprocess

import pytest

from processes.choices import StepKind
from processes.library import (
    TemplateRefused,
    step_add_from_template,
    step_render,
    step_template_create,
    step_template_delete,
    step_template_update,
    step_update_from_template,
)
from processes.models import Step, StepTemplate
from processes.parameters import ParameterError, parameters_read, quoted_placeholders
from processes.services import (
    StepSpec,
    process_replace,
    process_summary,
    step_automate,
    step_helper_script_set,
)
from relman.exceptions import Conflict, InvalidInput, PermissionRefused
from teams.models import AuditEvent

SHIPPED = [
    "Back up a PostgreSQL database",
    "Copy a folder",
    "HTTP health check",
    "Manual intervention",
    "Run SQL migrations",
    "Run a script",
]


@pytest.fixture
def greet(root):
    return step_template_create(
        name="Greet",
        kind=StepKind.SCRIPT,
        instructions="Greets #{Who} in #{Relman.Environment}.",
        script="echo Hello #{Who} from #{Place} in #{Relman.Environment}\n",
        parameters=[
            {"name": "Who", "label": "Whom to greet"},
            {"name": "Place", "label": "From where", "default": "Relman"},
        ],
        actor=root,
    )


def shell(script: str) -> str:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout


# --- the library -------------------------------------------------------------------------------


def test_the_shipped_library_is_there_after_migrate(db):
    templates = StepTemplate.objects.filter(shipped=True).order_by("name")
    assert [t.name for t in templates] == SHIPPED
    assert all(t.version == 1 for t in templates)
    health = StepTemplate.objects.get(name="HTTP health check")
    assert [p["name"] for p in health.parameters] == [
        "Url",
        "ExpectedStatus",
        "ExpectedText",
        "Retries",
        "DelaySeconds",
    ]
    for template in templates:
        # Each is a valid template: its parameters read, none placed inside quotes.
        names = [p.name for p in parameters_read(template.parameters)]
        assert quoted_placeholders(template.script, names) == [], template.name


def test_an_edit_that_changes_something_raises_the_version_and_is_audited(greet, root):
    step_template_update(template=greet, script="echo Hi #{Who}\n", actor=root)
    greet.refresh_from_db()
    assert greet.version == 2
    event = AuditEvent.objects.get(action="step_template.updated")
    assert event.changes["version"] == [1, 2]
    assert event.changes["script"][1] == "echo Hi #{Who}\n"


def test_an_edit_that_changes_nothing_keeps_the_version_and_writes_nothing(greet, root):
    step_template_update(
        template=greet, name="Greet", script=greet.script, parameters=greet.parameters, actor=root
    )
    greet.refresh_from_db()
    assert greet.version == 1
    assert not AuditEvent.objects.filter(action="step_template.updated").exists()


def test_only_superusers_change_the_library(greet, editor):
    with pytest.raises(PermissionRefused, match="Only superusers may create step templates"):
        step_template_create(name="Mine", actor=editor)
    with pytest.raises(PermissionRefused):
        step_template_update(template=greet, description="x", actor=editor)
    with pytest.raises(PermissionRefused):
        step_template_delete(template=greet, actor=editor)


def test_a_duplicate_name_is_a_conflict(greet, root):
    with pytest.raises(Conflict, match="A step template named greet already exists"):
        step_template_create(name="greet", actor=root)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ([{"name": "a b"}], "needs a name of letters"),
        ([{"name": "X"}, {"name": "X"}], "Parameter X is listed twice"),
        ([{"name": "Relman.Project"}], "Relman's own"),
        ([{"name": "Pw", "sensitive": True, "default": "hunter2"}], "must refer to a variable"),
        ([{"name": "X", "colour": "red"}], "unknown keys colour"),
        ("Url", "Parameters are a list"),
    ],
)
def test_a_bad_parameter_list_is_refused(root, parameters, message):
    with pytest.raises(InvalidInput, match=message):
        step_template_create(name="Bad", parameters=parameters, actor=root)


@pytest.mark.parametrize("script", ["curl '#{Url}'", 'curl "#{Url}/health"', 'echo "a $(b) #{Url}"'])
def test_a_parameter_inside_quotes_is_refused(root, script):
    with pytest.raises(InvalidInput, match=r"puts #\{Url\} inside quotes"):
        step_template_create(
            name="Quoted", kind="script", script=script, parameters=[{"name": "Url"}], actor=root
        )


def test_quotes_in_comments_and_escapes_do_not_count():
    script = "# don't worry\necho \\'#{Url} it\\'s\nU='x'#{Url}'y'\n"
    assert quoted_placeholders(script, ["Url"]) == []


def test_delete_in_use_is_refused_naming_the_projects(greet, root, octopus, goodhealth, edith):
    for project in (octopus.project, goodhealth.project):
        step_add_from_template(
            project=project, template=greet, parameters={"Who": "you"}, name="Greet", actor=edith
        )
    with pytest.raises(
        Conflict,
        match="Greet is used by steps of the projects Manual Deployment, GoodHealth, so it cannot be deleted",
    ) as e:
        step_template_delete(template=greet, actor=root)
    assert e.value.code == "in_use"
    assert StepTemplate.objects.filter(pk=greet.pk).exists()
    assert not AuditEvent.objects.filter(action="step_template.deleted").exists()


def test_an_unused_template_is_deleted_and_audited(greet, root):
    step_template_delete(template=greet, actor=root)
    assert not StepTemplate.objects.filter(pk=greet.pk).exists()
    assert AuditEvent.objects.get(action="step_template.deleted").changes["name"] == "Greet"


# --- rendering ---------------------------------------------------------------------------------


def test_parameters_are_substituted_and_other_references_left_for_run_time(greet):
    spec = step_render(StepSpec(name="Hi", template=greet, parameters={"Who": "world"}))
    assert spec.kind == StepKind.SCRIPT
    assert spec.instructions == "Greets world in #{Relman.Environment}."
    # The default fills Place; the value is quoted as one shell word.
    assert spec.script == "echo Hello world from Relman in #{Relman.Environment}\n"
    assert spec.parameters == {"Who": "world", "Place": "Relman"}
    assert spec.template_version == 1


def test_a_parameter_without_value_or_default_is_refused_naming_it(greet):
    for given in ({}, {"Who": ""}):
        with pytest.raises(TemplateRefused, match=r"Parameter Who \(Whom to greet\) needs a value") as e:
            step_render(StepSpec(name="Hi", template=greet, parameters=given))
        assert e.value.field == "parameters"


def test_an_unknown_parameter_is_refused_naming_the_known_ones(greet):
    with pytest.raises(
        TemplateRefused, match="Whoo is not a parameter of Greet; its parameters are Place, Who"
    ):
        step_render(StepSpec(name="Hi", template=greet, parameters={"Who": "x", "Whoo": "y"}))


def test_parameters_without_a_template_are_refused():
    with pytest.raises(TemplateRefused, match="name its template"):
        step_render(StepSpec(name="Hi", parameters={"Who": "x"}))


@pytest.mark.parametrize(
    "value",
    [
        "it's",
        "a b",
        "$(touch /tmp/relman-pwned)",
        "`id`",
        "x'; echo INJECTED; '",
        '"; echo INJECTED; "',
        "#{Who}",
    ],
)
def test_a_value_with_quotes_or_code_is_data_in_the_script(greet, value):
    spec = step_render(StepSpec(name="Hi", template=greet, parameters={"Who": value, "Place": "here"}))
    printed = shell(spec.script.replace("#{Relman.Environment}", "Test"))
    assert printed == f"Hello {value} from here in Test\n"


def test_a_sensitive_parameter_refuses_a_literal_secret_and_says_how(root):
    template = step_template_create(
        name="Login",
        kind="script",
        script="login --password #{Password}\n",
        parameters=[{"name": "Password", "sensitive": True}],
        actor=root,
    )
    for secret in (
        "hunter2",
        "pre#{DbPassword}",
        "#{DbPassword} and more",
        "#{A}#{B}",
        "##{DbPassword}",
        "#{A}\nhunter2",
    ):
        with pytest.raises(TemplateRefused) as e:
            step_render(StepSpec(name="Login", template=template, parameters={"Password": secret}))
        assert "make the secret a sensitive project variable" in e.value.message
        assert "give #{PasswordSecret}" in e.value.message
        assert secret not in e.value.message


def test_a_sensitive_reference_reaches_the_script_as_its_environment_variable(root, octopus, edith):
    template = step_template_create(
        name="Login",
        kind="script",
        instructions="Logs in with #{Password}.",
        script="printf '%s\\n' #{Password}\n",
        parameters=[{"name": "Password", "sensitive": True}],
        actor=root,
    )
    step = step_add_from_template(
        project=octopus.project,
        template=template,
        parameters={"Password": "#{Db.Password}"},
        name="Login",
        actor=edith,
    )
    # The step stores the reference, never a secret; the script reads the variable's
    # environment variable, the instructions keep the reference (masked when shown).
    assert step.parameters == {"Password": "#{Db.Password}"}
    assert step.instructions == "Logs in with #{Db.Password}."
    assert '"${RELMAN_VAR_DB_PASSWORD?' in step.script
    printed = subprocess.run(
        ["bash", "-c", step.script],
        capture_output=True,
        text=True,
        env={"RELMAN_VAR_DB_PASSWORD": "it's $(a) secret"},
    )
    assert printed.stdout == "it's $(a) secret\n"
    missing = subprocess.run(["bash", "-c", step.script], capture_output=True, text=True, env={})
    assert missing.returncode != 0
    assert "the variable Db.Password has no value here" in missing.stderr


# --- steps made from templates -----------------------------------------------------------------


def test_a_step_from_a_template_keeps_its_own_fields_and_is_audited(greet, octopus, edith):
    test, _ = octopus.environments
    before = octopus.project.steps.count()
    step = step_add_from_template(
        project=octopus.project,
        template=greet,
        parameters={"Who": "ops"},
        name="Say hello",
        position=2,
        spec=StepSpec(name="ignored", environments=(test,), target_roles=("web",)),
        actor=edith,
    )
    assert (step.position, step.name, step.template, step.template_version) == (2, "Say hello", greet, 1)
    assert list(step.environments.all()) == [test] and step.target_roles == ["web"]
    assert octopus.project.steps.count() == before + 1
    summary = process_summary(octopus.project)[1]
    assert summary["template"] == "Greet" and summary["parameters"] == {"Who": "ops", "Place": "Relman"}
    event = AuditEvent.objects.filter(action="process.updated").latest("id")
    assert event.changes["steps"][1][1]["template"] == "Greet"


def test_update_to_version_n_renders_the_new_version_with_the_stored_values(greet, root, octopus, edith):
    step = step_add_from_template(
        project=octopus.project, template=greet, parameters={"Who": "ops"}, name="Greet", actor=edith
    )
    assert not step.template_outdated
    step_template_update(
        template=greet,
        script="echo Hi #{Who}, #{Mood}\n",
        parameters=[{"name": "Who"}, {"name": "Mood", "default": "cheerful"}],
        actor=root,
    )
    step = Step.objects.get(pk=step.pk)
    assert step.template_outdated and step.script == "echo Hello ops from Relman in #{Relman.Environment}\n"

    updated = step_update_from_template(project=octopus.project, position=step.position, actor=edith)
    assert updated.script == "echo Hi ops, cheerful\n"
    assert updated.template_version == 2 and updated.parameters == {"Who": "ops", "Mood": "cheerful"}
    event = AuditEvent.objects.get(action="process.step_template_updated")
    assert event.changes["version"] == [1, 2]
    with pytest.raises(Conflict, match="at version 2 of Greet already"):
        step_update_from_template(project=octopus.project, position=updated.position, actor=edith)


def test_update_refused_for_a_new_parameter_without_default_naming_it(greet, root, octopus, edith):
    step = step_add_from_template(
        project=octopus.project, template=greet, parameters={"Who": "ops"}, name="Greet", actor=edith
    )
    step_template_update(
        template=greet,
        script="echo #{Who} #{Team}\n",
        parameters=[{"name": "Who"}, {"name": "Team"}],
        actor=root,
    )
    with pytest.raises(TemplateRefused, match=r"Version 2 of Greet: Parameter Team \(Team\) needs a value"):
        step_update_from_template(project=octopus.project, position=step.position, actor=edith)
    updated = step_update_from_template(
        project=octopus.project, position=step.position, parameters={"Team": "DBA"}, actor=edith
    )
    assert updated.script == "echo ops DBA\n"


def test_update_refused_for_a_step_without_template_and_for_non_editors(greet, octopus, edith, sarah):
    with pytest.raises(Conflict, match="is not made from a template"):
        step_update_from_template(project=octopus.project, position=1, actor=edith)
    with pytest.raises(PermissionRefused):
        step_update_from_template(project=octopus.project, position=1, actor=sarah)
    with pytest.raises(PermissionRefused):
        step_add_from_template(
            project=octopus.project, template=greet, parameters={"Who": "x"}, name="G", actor=sarah
        )


def test_another_process_change_keeps_the_template_link(greet, octopus, edith):
    step_add_from_template(
        project=octopus.project, template=greet, parameters={"Who": "ops"}, name="Greet", actor=edith
    )
    first = Step.objects.filter(project=octopus.project).order_by("position").first()
    step_helper_script_set(
        project=octopus.project, position=first.position, script="echo help", target_roles=(), actor=edith
    )
    step = Step.objects.get(project=octopus.project, name="Greet")
    assert (step.template, step.template_version, step.parameters["Who"]) == (greet, 1, "ops")


# --- the ladder on the process page's services ---------------------------------------------------


def test_helper_script_set_changed_and_removed_climbs_and_descends_the_ladder(octopus, edith):
    step = octopus.project.steps.order_by("position").first()
    assert step.automation_level == 1
    step = step_helper_script_set(
        project=octopus.project, position=1, script="pg_dump app > /tmp/x", target_roles=["db"], actor=edith
    )
    assert (step.automation_level, step.target_roles) == (2, ["db"])
    event = AuditEvent.objects.filter(action="process.updated").latest("id")
    assert event.changes["steps"][1][0]["script"] == "pg_dump app > /tmp/x"
    step = step_helper_script_set(
        project=octopus.project, position=1, script="  ", target_roles=[], actor=edith
    )
    assert step.automation_level == 1


def test_helper_script_refused_on_a_script_step_and_for_non_editors(octopus, edith, sarah):
    process_replace(
        project=octopus.project, steps=[StepSpec(name="Run", kind="script", script="true")], actor=edith
    )
    with pytest.raises(Conflict, match="is a script step"):
        step_helper_script_set(project=octopus.project, position=1, script="x", target_roles=[], actor=edith)
    with pytest.raises(PermissionRefused):
        step_helper_script_set(project=octopus.project, position=1, script="x", target_roles=[], actor=sarah)
    with pytest.raises(InvalidInput, match="has no step 2"):
        step_helper_script_set(project=octopus.project, position=2, script="x", target_roles=[], actor=edith)


def test_a_new_helper_script_on_a_template_step_makes_it_the_projects_own(root, octopus, edith):
    manual = StepTemplate.objects.get(name="Manual intervention")
    step = step_add_from_template(
        project=octopus.project,
        template=manual,
        parameters={"Instructions": "Look."},
        name="Look",
        actor=edith,
    )
    step = step_helper_script_set(
        project=octopus.project, position=step.position, script="curl -fsS app", target_roles=[], actor=edith
    )
    assert (step.template, step.template_version, step.parameters, step.instructions) == (
        None,
        None,
        {},
        "Look.",
    )


def test_automating_a_template_step_makes_it_the_projects_own(root, octopus, edith):
    checked = step_template_create(
        name="Checked restart",
        kind="manual",
        instructions="Restart #{Service} and check it.",
        script="systemctl restart #{Service}\n",
        parameters=[{"name": "Service"}],
        actor=root,
    )
    step = step_add_from_template(
        project=octopus.project, template=checked, parameters={"Service": "app"}, name="Restart", actor=edith
    )
    assert step.automation_level == 2
    steps = step_automate(project=octopus.project, position=step.position, keep_check=True, actor=edith)
    script, check = steps[step.position - 1], steps[step.position]
    assert (script.kind, script.script, script.template) == ("script", "systemctl restart app\n", None)
    assert (check.name, check.template) == ("Check: Restart", None)


def test_parameter_error_messages_name_every_problem():
    with pytest.raises(ParameterError) as e:
        parameters_read([{"name": "A"}, {"name": "A"}, {"name": ""}])
    assert len(e.value.messages) == 2
