"""Rung 2 in a browser: the assignee of "Check the application loads as expected" runs its
helper script from the deployment page, sees its output offered in the notes box, edits
it and proceeds."""

import re

import pytest
from playwright.sync_api import expect

from processes.models import Step
from releases.models import Interruption
from releases.services import deployment_create, interruption_take, release_create
from teams.models import Team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TITLE = "Check the application loads as expected"


def test_run_a_helper_script_and_proceed_with_its_output_as_notes(
    open_as, octopus, root, tina, live_server, screenshot
):
    octopus.project.steps.all().delete()
    step = Step.objects.create(
        project=octopus.project,
        name=TITLE,
        position=1,
        instructions="Open the application and run the smoke tests.",
        script=(
            "python3 -c 'import sys, urllib.request; answer = urllib.request.urlopen(sys.argv[1]);"
            f" print(sys.argv[1], answer.status)' {live_server.url}/healthz"
        ),
    )
    step.responsible_teams.add(Team.objects.get(name="Test Team"))
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    interruption_take(interruption=Interruption.objects.get(deployment=deployment, pending=True), actor=tina)

    page = open_as(tina)
    page.goto(deployment.get_absolute_url())
    panel = page.locator("section.interruption")
    helper = panel.get_by_role("group", name="Helper script")
    expect(helper).to_contain_text("Runs on Relman's built-in runner")
    helper.get_by_role("button", name="Run helper script").click()
    expect(page.locator("#messages")).to_contain_text(f"The helper script of {TITLE} is running")
    output = helper.locator("pre.log")
    expect(output).to_contain_text(f"{live_server.url}/healthz 200")
    notes = panel.get_by_label("Notes")
    expect(notes).to_have_value(
        f"== Helper script: run by Tina on Relman's built-in runner ==\n"
        f"{live_server.url}/healthz 200\nExited with code 0."
    )
    expect(page.locator("#task-log")).to_contain_text("== Helper script succeeded ==")
    screenshot(page, "helper-script")

    notes.fill("Smoke tests pass.")
    helper.get_by_role("button", name="Use as notes").click()
    expect(notes).to_have_value(re.compile(r"healthz 200\nExited with code 0\.$"))
    notes.press("End")
    notes.type("\nSmoke tests pass.")
    panel.get_by_role("button", name="Proceed").click()
    expect(page.locator("#messages")).to_contain_text(f"Proceeded with {TITLE}.")
    interruption = Interruption.objects.get(deployment=deployment)
    assert f"{live_server.url}/healthz 200" in interruption.notes
    assert interruption.notes.endswith("Smoke tests pass.")
