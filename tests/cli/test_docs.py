"""docs/ci.md stays true: its pipeline files are valid YAML, every relman-cli command in
them and in its shell examples is one the CLI accepts, and the pipelines run as written
against a live server."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from processes.services import project_create
from releases.choices import DeploymentState
from releases.models import Deployment, Release, TaskLogEntry
from relman.cli import build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def commands() -> list[str]:
    text = "\n".join(blocks("yaml") + blocks("sh")).replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        for match in re.finditer(r"relman-cli ([^)|;]*)", line):
            found.append(match.group(1).strip())
    return found


def test_pipeline_files_are_valid_yaml():
    documents = [yaml.safe_load(block) for block in blocks("yaml")]
    assert len(documents) == 2
    github, gitlab = documents
    assert github["jobs"]["deploy-staging"]["env"]["RELMAN_API_KEY"] == "${{ secrets.RELMAN_API_KEY }}"
    assert gitlab["deploy-staging"]["script"][-1].startswith("relman-cli deploy")


@pytest.mark.parametrize("command", commands())
def test_documented_commands_parse(command):
    # Shell and workflow expansions stand for values (a number fits every option).
    words = shlex.split(re.sub(r"\$\{\{[^}]*\}\}|\$\{[^}]*\}|\$[A-Za-z_]+", "1", command))
    args = build_parser().parse_args(words)
    assert args.handler


def test_every_command_is_shown():
    shown = " ".join(commands())
    for command in [
        "create-release",
        "deploy",
        "interruptions list",
        "interruptions submit",
        "process import",
    ]:
        assert command in shown


# --- the pipelines, run as written ------------------------------------------------------------

PROCESS = """\
steps:
- name: Deploy
  kind: script
  script: echo "deploying $RELMAN_PROJECT $RELMAN_RELEASE_VERSION"
  timeout_seconds: 60
"""


def pipeline_scripts() -> dict[str, list[str]]:
    """Each pipeline's shell commands, less the install step (the test runs this checkout's
    relman-cli)."""
    github, gitlab = (yaml.safe_load(block) for block in blocks("yaml"))
    github_steps = github["jobs"]["deploy-staging"]["steps"]
    return {
        "github": [
            step["run"] for step in github_steps if "run" in step and "pip install" not in step["run"]
        ],
        "gitlab": gitlab["deploy-staging"]["script"],
    }


@pytest.mark.parametrize(
    ("name", "ci_variables", "version"),
    [
        (
            "github",
            {"GITHUB_REF_NAME": "v1.2.0", "GITHUB_SHA": "4f2a9c1", "GITHUB_ACTOR": "octocat"},
            "1.2.0",
        ),
        ("gitlab", {"CI_COMMIT_TAG": "1.3.0", "CI_PIPELINE_URL": "https://git.example.com/p/9"}, "1.3.0"),
    ],
)
def test_pipelines_run_as_written(cli, root, pipeline, tmp_path, name, ci_variables, version):
    """Each pipeline's commands run in bash as the CI system would, twice: a re-run job
    deploys the release the first run created."""
    project = project_create(name="Shop", slug="shop", lifecycle=pipeline.project.lifecycle, actor=root)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "process.yaml").write_text(PROCESS)
    cli(root)
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "RELMAN_URL": cli.url,
        "RELMAN_API_KEY": cli.key,
        **ci_variables,
    }
    for _ in range(2):
        for script in pipeline_scripts()[name]:
            run = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 0, f"{script}\n{run.stderr}"
    release = Release.objects.get(project=project, version=version)
    assert (
        list(Deployment.objects.filter(release=release).values_list("state", flat=True))
        == [DeploymentState.SUCCESS] * 2
    )
    assert release.notes in {"Built from 4f2a9c1 by octocat.", "Pipeline https://git.example.com/p/9"}
    log = TaskLogEntry.objects.filter(deployment__release=release).values_list("message", flat=True)
    assert f"deploying Shop {version}" in log
