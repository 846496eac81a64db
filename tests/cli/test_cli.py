"""relman-cli against a live server, as a CI pipeline uses it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from releases.choices import DeploymentState, StepState
from releases.models import Deployment, Interruption, Release
from releases.services import deployment_cancel, deployment_create, release_create
from relman import cli as relman_cli

SCRIPT_PROCESS = """\
steps:
- name: Build check
  kind: script
  script: echo "checking $RELMAN_RELEASE_VERSION"
  timeout_seconds: 60
- name: Deploy
  kind: script
  script: |
    echo "deploying $RELMAN_PROJECT $RELMAN_RELEASE_VERSION to $RELMAN_ENVIRONMENT"
  timeout_seconds: 60
"""

FAILING_PROCESS = """\
steps:
- name: Deploy
  kind: script
  script: echo "disk full" >&2; exit 3
  timeout_seconds: 60
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- nothing to a deployed release ------------------------------------------------------------


def test_pipeline_from_nothing_to_a_deployed_release(cli, root, pipeline, tmp_path):
    cli(root)
    imported = cli.run("process", "import", "--project", "ci-app", write(tmp_path, "p.yaml", SCRIPT_PROCESS))
    assert imported.code == 0, imported.err
    assert "2 steps" in imported.out

    created = cli.run("create-release", "--project", "ci-app", "--version", "1.4.0", "--notes", "Faster.")
    assert created.code == 0, created.err
    release = Release.objects.get(project=pipeline.project, version="1.4.0")
    assert created.out.strip() == str(release.pk)
    assert release.notes == "Faster."

    deployed = cli.run(
        "deploy", "--project", "ci-app", "--version", "1.4.0", "--environment", "staging", "--wait",
        "--interval", "0.1",
    )  # fmt: skip
    assert deployed.code == 0, deployed.err
    deployment = Deployment.objects.get(release=release)
    assert deployment.state == DeploymentState.SUCCESS
    assert deployed.out.strip() == str(deployment.pk)
    assert "deploying CI App 1.4.0 to Staging" in deployed.err
    assert f"Deployment {deployment.pk} to staging succeeded." in deployed.err
    assert f"{cli.url}/deployments/{deployment.pk}/" in deployed.err


def test_installed_console_script_runs_the_pipeline(cli, root, pipeline, tmp_path):
    script = Path(sys.executable).parent / "relman-cli"
    if not script.exists():
        pytest.fail("relman-cli is not installed in this environment: run `pip install -e .`")
    cli(root)
    env = {**os.environ, "RELMAN_URL": cli.url, "RELMAN_API_KEY": cli.key}

    def run(*args):
        return subprocess.run(
            [str(script), *map(str, args)], env=env, capture_output=True, text=True, timeout=120
        )

    assert (
        run("process", "import", "--project", "ci-app", write(tmp_path, "p.yaml", SCRIPT_PROCESS)).returncode
        == 0
    )
    created = run("create-release", "--project", "ci-app", "--version", "2.0.0")
    assert created.returncode == 0, created.stderr
    release_id = created.stdout.strip()
    deployed = run(
        "deploy", "--release-id", release_id, "--environment", "staging", "--wait", "--interval", "0.2"
    )
    assert deployed.returncode == 0, deployed.stderr
    assert "succeeded" in deployed.stderr
    assert Deployment.objects.get(release_id=int(release_id)).state == DeploymentState.SUCCESS

    refused = run("deploy", "--release-id", release_id, "--environment", "nowhere")
    assert refused.returncode == 4
    assert "relman-cli: error:" in refused.stderr


# --- waiting for a person ----------------------------------------------------------------------


def test_wait_shows_the_blocking_interruption_and_times_out(cli, octopus, root, sarah, olly):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    cli(olly)
    result = cli.run(
        "deploy", "--release-id", release.pk, "--environment", "manual-test", "--wait", "--timeout", "0.5",
        "--interval", "0.1",
    )  # fmt: skip
    assert result.code == 3
    deployment = Deployment.objects.get(release=release)
    interruption = Interruption.objects.get(deployment=deployment, pending=True)
    assert deployment.state == DeploymentState.WAITING
    assert f'Waiting for a person: "Backup the database" (interruption {interruption.pk})' in result.err
    assert "Responsible teams: DBA Team" in result.err
    assert "Assigned to: nobody yet" in result.err
    assert "may not act on it" in result.err
    assert f'relman-cli interruptions submit {interruption.pk} --result proceed --notes "..."' in result.err
    assert "Timed out after 0.5 s" in result.err
    assert result.err.count("Waiting for a person") == 2  # when it starts waiting, and at the timeout


def test_submit_through_the_cli_proceeds_the_deployment(cli, octopus, root, sarah):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=octopus.environments[0], actor=sarah)
    interruption = Interruption.objects.get(deployment=deployment, pending=True)
    cli(sarah)

    listed = cli.run("interruptions", "list", "--mine")
    assert listed.code == 0, listed.err
    assert listed.out.splitlines()[0].split() == [
        "ID",
        "DEPLOYMENT",
        "STATE",
        "ASSIGNEE",
        "CAN",
        "ACT",
        "TITLE",
    ]
    assert listed.out.splitlines()[1].split()[:5] == [
        str(interruption.pk),
        str(deployment.pk),
        "pending",
        "-",
        "yes",
    ]

    taken = cli.run("interruptions", "take", interruption.pk)
    assert taken.code == 0, taken.err
    assert "is held by sarah" in taken.out

    submitted = cli.run(
        "interruptions", "submit", interruption.pk, "--result", "proceed", "--notes", "backup-42.bak"
    )
    assert submitted.code == 0, submitted.err
    assert "proceed, submitted by sarah" in submitted.out
    interruption.refresh_from_db()
    assert (interruption.pending, interruption.result, interruption.notes) == (
        False,
        "proceed",
        "backup-42.bak",
    )
    step = deployment.steps.get(position=2)
    assert step.state == StepState.WAITING

    again = cli.run("interruptions", "submit", interruption.pk, "--result", "proceed")
    assert again.code == 4
    assert "(HTTP 409" in again.err


def test_list_mine_is_empty_for_another_team(cli, octopus, root, sarah, olly):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment_create(release=release, environment=octopus.environments[0], actor=sarah)
    cli(olly)
    result = cli.run("interruptions", "list", "--mine")
    assert (result.code, result.out) == (0, "")
    assert "No interruption is waiting." in result.err
    everyone = cli.run("--json", "interruptions", "list")
    assert [item["title"] for item in json.loads(everyone.out)] == ["Backup the database"]


def test_wait_ends_with_2_when_someone_cancels(cli, octopus, root, sarah, monkeypatch):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)

    def cancel_while_waiting(watcher, seconds):
        deployment = Deployment.objects.get(pk=watcher.deployment_id)
        if deployment.state == DeploymentState.WAITING:
            deployment_cancel(deployment=deployment, actor=sarah)

    monkeypatch.setattr(relman_cli.Watcher, "pause", cancel_while_waiting)
    cli(sarah)
    result = cli.run("deploy", "--release-id", release.pk, "--environment", "manual-test", "--wait")
    assert result.code == 2
    assert "State: cancelled" in result.err
    assert "was cancelled." in result.err


def test_wait_prints_who_took_the_interruption(cli, octopus, root, sarah, monkeypatch):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    polls = []

    def take_then_give_up(watcher, seconds):
        polls.append(seconds)
        interruption = Interruption.objects.filter(deployment_id=watcher.deployment_id, pending=True).first()
        if interruption and interruption.assignee is None:
            interruption.assignee = sarah
            interruption.save(update_fields=["assignee"])
        elif len(polls) > 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(relman_cli.Watcher, "pause", take_then_give_up)
    cli(sarah)
    result = cli.run("deploy", "--release-id", release.pk, "--environment", "manual-test", "--wait")
    assert result.code == 130
    assert "is now held by sarah." in result.err
    assert "a deployment already started goes on" in result.err


# --- failures ------------------------------------------------------------------------------------


def test_failed_deployment_exits_1(cli, root, pipeline, tmp_path):
    cli(root)
    assert (
        cli.run("process", "import", "--project", "ci-app", write(tmp_path, "p.yml", FAILING_PROCESS)).code
        == 0
    )
    release_id = cli.run("create-release", "--project", "ci-app", "--version", "1.0.0").out.strip()
    result = cli.run(
        "deploy", "--release-id", release_id, "--environment", "staging", "--wait", "--interval", "0.1"
    )
    assert result.code == 1
    assert "ERROR" in result.err
    assert "failed." in result.err
    assert Deployment.objects.get(release_id=int(release_id)).state == DeploymentState.FAILED

    without_wait = cli.run("create-release", "--project", "ci-app", "--version", "1.0.1")
    result = cli.run("deploy", "--release-id", without_wait.out.strip(), "--environment", "staging")
    assert result.code == 1  # tasks run eagerly here, so the answer already says failed


def test_lifecycle_refusal_is_exit_4_with_the_reason(cli, octopus, root, sarah):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    cli(sarah)
    result = cli.run("deploy", "--release-id", release.pk, "--environment", "manual-live", "--wait")
    assert result.code == 4
    assert result.err.startswith("relman-cli: error: ")
    assert "(HTTP 409, " in result.err
    assert not Deployment.objects.exists()


def test_duplicate_version_is_exit_4_with_the_servers_sentence(cli, octopus, root):
    release_create(project=octopus.project, version="1.0.0", actor=root)
    cli(root)
    result = cli.run("create-release", "--project", "manual-deployment", "--version", "1.0.0")
    assert result.code == 4
    assert result.err == (
        "relman-cli: error: Manual Deployment already has a release 1.0.0; choose another version. "
        "(HTTP 409, duplicate_version)\n"
    )
    assert Release.objects.count() == 1


def test_unknown_project_is_exit_4(cli, root, octopus):
    cli(root)
    result = cli.run("create-release", "--project", "no-such-project", "--version", "1.0.0")
    assert result.code == 4
    assert "(HTTP 404, not_found)" in result.err


def test_bad_api_key_is_a_clear_error(cli, root, octopus, monkeypatch):
    cli(root)
    monkeypatch.setenv("RELMAN_API_KEY", "rm_0000_not-a-key")
    result = cli.run("interruptions", "list")
    assert result.code == 4
    assert "The API key is unknown, revoked, expired, or its user is disabled. (HTTP 401" in result.err


def test_missing_configuration_is_exit_4(cli, monkeypatch):
    result = cli.run("interruptions", "list")
    assert result.code == 4
    assert "RELMAN_URL is not set" in result.err
    monkeypatch.setenv("RELMAN_URL", cli.url)
    result = cli.run("interruptions", "list")
    assert "RELMAN_API_KEY is not set" in result.err


def test_unreachable_server_is_exit_4(cli, monkeypatch):
    monkeypatch.setenv("RELMAN_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("RELMAN_API_KEY", "rm_x_y")
    result = cli.run("interruptions", "list")
    assert result.code == 4
    assert "Cannot reach Relman at http://127.0.0.1:9" in result.err


def test_usage_errors_are_exit_4(cli):
    with pytest.raises(SystemExit) as exit_info:
        cli.run("interruptions", "submit", "5", "--result", "maybe")
    assert exit_info.value.code == 4


# --- process as code ---------------------------------------------------------------------------


def test_process_export_and_import_round_trip_in_yaml_and_json(cli, octopus, root, tmp_path):
    cli(root)
    exported = cli.run("process", "export", "--project", "manual-deployment", tmp_path / "process.yaml")
    assert exported.code == 0, exported.err
    document = yaml.safe_load((tmp_path / "process.yaml").read_text())
    assert len(document["steps"]) == 8
    assert document["steps"][0]["name"] == "Backup the database"

    document["steps"] = document["steps"][:2]
    write(tmp_path, "process.json", json.dumps(document))
    imported = cli.run("process", "import", "--project", "manual-deployment", tmp_path / "process.json")
    assert imported.code == 0, imported.err
    assert octopus.project.steps.count() == 2

    to_stdout = cli.run("process", "export", "--project", "manual-deployment", "-")
    assert yaml.safe_load(to_stdout.out) == document


def test_process_import_errors_point_at_the_step_and_field(cli, octopus, root, tmp_path):
    cli(root)
    bad = "steps:\n- name: Build\n  kind: script\n- name: Ask\n  responsible_teams: [9999]\n"
    result = cli.run("process", "import", "--project", "manual-deployment", write(tmp_path, "bad.yaml", bad))
    assert result.code == 4
    assert result.err == (
        "relman-cli: error: Invalid input (HTTP 400, invalid)\n"
        '  steps[1] ("Ask").responsible_teams: Unknown team id 9999.\n'
    )
    assert octopus.project.steps.count() == 8

    result = cli.run(
        "process", "import", "--project", "manual-deployment", write(tmp_path, "x.yaml", "steps: [\n")
    )
    assert result.code == 4
    assert "YAML parse error" in result.err

    result = cli.run("process", "import", "--project", "manual-deployment", tmp_path / "missing.yaml")
    assert result.code == 4
    assert "Cannot read" in result.err


def test_field_errors_are_lines_of_the_error_model():
    payload = {
        "detail": "steps[2].script: A script step needs a script.",
        "code": "invalid",
        "errors": {
            "steps[2].script": ["A script step needs a script."],
            "version": ["This field is required.", "Too long."],
            "non_field_errors": ["Give a result or a guidance."],
        },
    }
    assert relman_cli.field_errors(payload) == [
        "steps[2].script: A script step needs a script.",
        "version: This field is required.",
        "version: Too long.",
        "Give a result or a guidance.",
    ]
    assert relman_cli.field_errors({"detail": "Not found.", "code": "not_found"}) == []


# --- deploy by version ---------------------------------------------------------------------------


def test_deploy_creates_the_release_and_answers_in_json(cli, root, pipeline, tmp_path):
    cli(root)
    words = ["deploy", "--project", "ci-app", "--version", "3.0.0", "--environment", "staging"]
    first = cli.run(*words, "--create-release", "--notes", "Pipeline 7.", "--wait", "--output", "json")
    assert first.code == 0, first.err
    release = Release.objects.get(project=pipeline.project, version="3.0.0")
    assert release.notes == "Pipeline 7."
    answer = json.loads(first.out)
    assert (answer["id"], answer["state"]) == (Deployment.objects.get(release=release).pk, "success")
    assert "Created release 3.0.0 of ci-app" in first.err

    rerun = cli.run("--output", "json", *words, "--create-release")
    assert rerun.code == 0, rerun.err
    assert json.loads(rerun.out)["release"] == release.pk
    assert "Found existing release 3.0.0 of ci-app" in rerun.err
    assert Release.objects.count() == 1


def test_deploy_of_a_missing_version_is_refused_with_exit_4(cli, root, pipeline):
    cli(root)
    words = ["deploy", "--project", "ci-app", "--version", "9.9.9", "--environment", "staging"]
    missing = cli.run(*words)
    assert missing.code == 4
    assert missing.err == (
        "relman-cli: error: ci-app has no release 9.9.9; create it first, or add --create-release.\n"
    )
    refused = cli.run(*words, "--create-release", "--environment", "production", "--output", "json")
    assert refused.code == 4
    assert json.loads(refused.out)["code"] == "lifecycle"
    both = cli.run(*words, "--release-id", "1")
    assert (both.code, both.err) == (4, "relman-cli: error: --release-id names the release alone; "
                                        "leave out --project, --version and --create-release.\n")  # fmt: skip
    assert not Deployment.objects.exists()


def test_existing_ok_finds_the_release_a_rerun_created(cli, octopus, root):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    release_create(project=octopus.project, version="1.0.1", actor=root)
    cli(root)
    result = cli.run(
        "create-release", "--project", "manual-deployment", "--version", "1.0.0", "--existing-ok"
    )
    assert result.code == 0, result.err
    assert result.out.strip() == str(release.pk)
    assert "Found existing release 1.0.0" in result.err
    assert Release.objects.count() == 2


def test_the_single_file_runs_on_the_standard_library_alone(cli, octopus, root, tmp_path):
    """A pipeline may fetch relman/cli.py alone and run it with a bare Python."""
    single = tmp_path / "relman_cli.py"
    single.write_text(Path(relman_cli.__file__).read_text())
    cli(root)
    env = {"RELMAN_URL": cli.url, "RELMAN_API_KEY": cli.key, "PATH": os.environ.get("PATH", "")}
    run = subprocess.run(
        [sys.executable, "-S", "-I", str(single), "--json", "interruptions", "list", "--all"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == []


def test_a_redirect_is_refused_not_followed(cli, octopus, root):
    """A POST redirected (say from http:// to https://) would arrive as a GET."""
    cli(root)
    client = relman_cli.client_from_environment()
    with pytest.raises(relman_cli.TransportError, match="was redirected to .*/releases/; set RELMAN_URL"):
        client.request("POST", "/projects/manual-deployment/releases", body={"version": "9.9.9"})
    assert not Release.objects.exists()
