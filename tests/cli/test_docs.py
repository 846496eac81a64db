"""docs/ci.md stays true: its pipeline files are valid YAML, and every relman-cli command
in them and in its shell examples is one the CLI accepts."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

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
