"""A step made from a template in a whole deployment (engine, built-in runner): its sensitive
parameter, given as a reference to a sensitive variable, reaches the script and is masked in
the task log; a value with a quote stays one word; nothing stores the secret."""

from processes.library import step_add_from_template, step_template_create
from processes.services import process_replace
from releases.choices import DeploymentState
from releases.services import deployment_create, release_create
from teams.models import AuditEvent
from tests.releases.test_runner import needs_switch
from variables import services
from variables.services import VariableSpec

SECRET = "hunter2 it's $(very) secret"


@needs_switch
def test_a_sensitive_parameter_is_resolved_at_run_time_and_masked(goodhealth, root, engine):
    project = goodhealth.project
    services.project_variables_replace(
        project=project,
        variables=[VariableSpec("DbPassword", SECRET, sensitive=True), VariableSpec("Host", "db.internal")],
        library_sets=[],
        actor=None,
    )
    template = step_template_create(
        name="Connect",
        kind="script",
        script='printf "user=%s host=%s pw=%s\\n" #{User} #{Host} #{Password}\n',
        parameters=[{"name": "User"}, {"name": "Host"}, {"name": "Password", "sensitive": True}],
        actor=root,
    )
    process_replace(project=project, steps=[], actor=root)
    step = step_add_from_template(
        project=project,
        template=template,
        parameters={"User": "o'brien", "Host": "#{Host}", "Password": "#{DbPassword}"},
        name="Connect",
        actor=root,
    )
    assert SECRET not in step.script

    with engine():
        release = release_create(project=project, version="1.0.0", actor=root)
        deployment = deployment_create(release=release, environment=goodhealth.environments[0], actor=root)
    deployment.refresh_from_db()
    lines = list(deployment.log_entries.order_by("id").values_list("message", flat=True))
    assert deployment.state == DeploymentState.SUCCESS, lines
    assert "user=o'brien host=db.internal pw=********" in lines
    assert not any("hunter2" in line for line in lines)
    assert not AuditEvent.objects.filter(changes__icontains="hunter2").exists()
