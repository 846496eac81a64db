"""Variables in a deployment: the release's snapshot, substitution, RELMAN_VAR_<NAME>,
undefined names, and sensitive values that appear in no log line, page, API answer, audit
event or database dump. Scripts run on the built-in runner (a real subprocess)."""

import io
import json
import os
import subprocess

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from notifications.services import webhook_create
from processes.models import Step
from releases.choices import DeploymentState, StepState
from releases.models import Interruption, TaskLogEntry
from releases.services import deployment_create, interruption_submit, release_create
from teams.models import AuditEvent
from teams.services import api_key_create
from variables import services
from variables.models import ReleaseSnapshot, Variable
from variables.services import VariableSpec

SECRET = "Server=db;Password=hunter2-very-secret"
KEY = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0\nAQEFAASCBKcwggSjAgEAAoIBAQ\n-----END KEY-----"


def set_variables(project, *specs):
    services.project_variables_replace(project=project, variables=list(specs), library_sets=[], actor=None)


def build_check(project, script):
    Step.objects.filter(project=project, name="Build check").update(script=script)


def deploy(demo, root, engine, version="1.0.0"):
    with engine():
        release = release_create(project=demo.project, version=version, actor=root)
        deployment = deployment_create(release=release, environment=demo.environments[0], actor=root)
    deployment.refresh_from_db()
    return deployment


def log(deployment):
    return list(deployment.log_entries.order_by("id").values_list("message", flat=True))


def test_scripts_get_substituted_values_and_environment_variables_with_secrets_masked(
    goodhealth, root, engine
):
    integration = goodhealth.environments[0]
    set_variables(
        goodhealth.project,
        VariableSpec("ConnectionString", SECRET, sensitive=True, environments=[integration]),
        VariableSpec("Key", KEY, sensitive=True),
        VariableSpec("Db", "db-any"),
        VariableSpec("Db", "db-integration", environments=[integration]),
    )
    build_check(
        goodhealth.project,
        'echo "cs=#{ConnectionString}"\n'
        'echo "env=$RELMAN_VAR_CONNECTIONSTRING"\n'
        'printf "%s\\n" "$RELMAN_VAR_KEY"\n'
        'echo "db=#{Db} $RELMAN_VAR_DB ##{Db} #{Relman.Environment} #{Relman.Release.Version}"\n',
    )
    deployment = deploy(goodhealth, root, engine)
    lines = log(deployment)
    assert "cs=********" in lines
    assert "env=********" in lines
    assert "db=db-integration db-integration #{Db} Integration 1.0.0" in lines
    key_at = lines.index("env=********") + 1
    assert lines[key_at : key_at + 4] == ["********"] * 4
    everything = "\n".join(lines)
    assert "hunter2" not in everything
    assert "MIIEvQ" not in everything and "AQEFAA" not in everything


def test_a_release_deploys_the_values_it_was_created_with(goodhealth, root, engine):
    set_variables(goodhealth.project, VariableSpec("Db", "before"))
    build_check(goodhealth.project, 'echo "db=#{Db}"\n')
    with engine():
        release = release_create(project=goodhealth.project, version="1.0.0", actor=root)
    set_variables(goodhealth.project, VariableSpec("Db", "after"))
    with engine():
        deployment = deployment_create(release=release, environment=goodhealth.environments[0], actor=root)
    assert "db=before" in log(deployment)
    assert "db=after" in log(deploy(goodhealth, root, engine, version="1.0.1"))


def test_an_undefined_name_fails_the_step_before_anything_runs(goodhealth, root, engine):
    set_variables(
        goodhealth.project, VariableSpec("Db", "test only", environments=[goodhealth.environments[1]])
    )
    build_check(goodhealth.project, 'echo "it ran"\necho "#{Db} #{Missing}"\n')
    deployment = deploy(goodhealth, root, engine)
    assert deployment.state == DeploymentState.FAILED
    step = deployment.steps.get(release_step__name="Build check")
    assert step.state == StepState.FAILED
    lines = log(deployment)
    assert (
        "Step 1: Build check refers to #{Db}, #{Missing}, which has no value in Integration; "
        "define it for that environment or remove the reference."
    ) in lines
    assert "it ran" not in lines


def test_manual_instructions_show_values_with_secrets_masked(goodhealth, root, engine):
    set_variables(goodhealth.project, VariableSpec("ConnectionString", SECRET, sensitive=True))
    Step.objects.filter(project=goodhealth.project, name="Migrate Data").update(
        instructions="Migrate with `#{ConnectionString}` in #{Relman.Environment} (##{literal})."
    )
    deployment = deploy(goodhealth, root, engine)
    interruption = Interruption.objects.get(deployment=deployment, pending=True)
    assert interruption.instructions == "Migrate with `********` in Integration (#{literal})."


def _dump() -> str:
    if connection.vendor == "postgresql":
        db = settings.DATABASES["default"]
        return subprocess.run(
            ["pg_dump", "-h", db["HOST"], "-p", str(db["PORT"]), "-U", db["USER"], db["NAME"]],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PGPASSWORD": db["PASSWORD"] or ""},
        ).stdout
    return "\n".join(connection.connection.iterdump())


@pytest.mark.django_db(transaction=True)
def test_the_demo_secret_is_nowhere_in_the_database_the_api_the_log_or_the_audit_trail(
    goodhealth, root, engine
):
    """The GoodHealth demo's Deploy step echoes its sensitive ConnectionString."""
    secret = Variable.objects.get(name="ConnectionString", environments__slug="integration").plain_value()
    deployment = deploy(goodhealth, root, engine)
    with engine():
        interruption_submit(
            interruption=Interruption.objects.get(deployment=deployment, pending=True),
            actor=goodhealth.users["admin-ops"],
            result="proceed",
            notes="done",
        )
    assert "Connecting to ********" in log(deployment)
    _, key = api_key_create(user=root, purpose="tests", actor=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    answers = [
        client.get(path).content.decode()
        for path in (
            "/api/v1/projects/goodhealth/variables/",
            f"/api/v1/deployments/{deployment.pk}/",
            f"/api/v1/deployments/{deployment.pk}/log/",
            f"/api/v1/releases/{deployment.release_id}/",
        )
    ]
    answers.append(
        client.get("/api/v1/projects/goodhealth/process/", HTTP_ACCEPT="application/yaml").content.decode()
    )
    assert "#{ConnectionString}" in answers[-1]  # the export names the variable, never its value
    assert "Connecting to ********" in answers[2]
    dump = _dump()
    assert "ConnectionString" in dump  # the dump does hold the variables' rows
    for place in (dump, *answers, json.dumps(list(AuditEvent.objects.values("changes")))):
        assert secret not in place
        assert "s3cret" not in place
    assert not TaskLogEntry.objects.filter(message__contains="s3cret").exists()


def test_rotating_the_key_reencrypts_values_release_snapshots_and_webhook_secrets(goodhealth, root, settings):
    release_create(project=goodhealth.project, version="1.0.0", actor=root)
    webhook, secret = webhook_create(name="Chat", url="https://hooks.example.com/relman", actor=root)
    old = settings.RELMAN_ENCRYPTION_KEY
    settings.RELMAN_ENCRYPTION_KEY = "bmV3LWtleS1mb3Itcm90YXRpb24tdGVzdHMtMDEyMzQ="
    settings.RELMAN_ENCRYPTION_OLD_KEYS = [old]
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert out.getvalue() == "Re-encrypted 3 sensitive values, 1 release snapshots and 1 webhook secrets.\n"
    settings.RELMAN_ENCRYPTION_OLD_KEYS = []
    webhook.refresh_from_db()
    assert webhook.secret == secret
    values = {v.plain_value() for v in Variable.objects.filter(name="ConnectionString")}
    assert "Server=db-production.goodhealth.example;Password=demo-production-s3cret" in values
    snapshot = ReleaseSnapshot.objects.get()
    assert {e.value for e in snapshot.entries()} == values


def test_a_value_the_key_cannot_decrypt_fails_the_step_before_it_runs(goodhealth, root, engine, settings):
    with engine():
        release = release_create(project=goodhealth.project, version="1.0.0", actor=root)
    settings.RELMAN_ENCRYPTION_KEY = "bmV3LWtleS1mb3Itcm90YXRpb24tdGVzdHMtMDEyMzQ="
    with engine():
        deployment = deployment_create(release=release, environment=goodhealth.environments[0], actor=root)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.FAILED
    assert (
        "Step 1: Build check cannot run: A stored secret cannot be decrypted with RELMAN_ENCRYPTION_KEY "
        "or RELMAN_ENCRYPTION_OLD_KEYS: was the key changed without rotating?"
    ) in log(deployment)
