"""The automation ladder in a browser: paste the seed's checklist into a new project, see
the preview, import it, give its last step a helper script, deploy and run the helper
script, then automate the step and, once trusted, remove its manual check."""

import re

from playwright.sync_api import expect

from processes.services import project_create
from releases.models import Interruption
from releases.services import deployment_create, interruption_submit, interruption_take, release_create
from tests.processes.test_checklist import SEED_TABLE

LAST_STEP = "Check the application loads as expected"


def test_paste_the_seed_checklist_then_take_a_step_up_the_ladder(
    open_as, octopus, root, editor, tina, screenshot
):
    project = project_create(name="Pasted", lifecycle=octopus.project.lifecycle, actor=root)

    page = open_as(editor)
    page.goto(f"/projects/{project.slug}/process/")
    page.get_by_role("link", name="Paste a checklist").click()
    page.get_by_label("Checklist", exact=True).fill(SEED_TABLE)
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("section", has=page.get_by_role("heading", name="Preview"))
    expect(preview.locator("tbody tr")).to_have_count(8)
    expect(preview.locator("tbody tr").nth(0)).to_contain_text("Backup the database")
    expect(preview.locator("tbody tr").nth(0)).to_contain_text("DBA Team")
    expect(preview.locator("tbody tr").nth(7)).to_contain_text("Test Team")
    screenshot(page, "checklist-preview")
    page.get_by_role("button", name="Import 8 steps").click()
    expect(page.locator("#messages")).to_contain_text("Checklist imported")
    ladder = page.locator("section", has=page.get_by_role("heading", name="Automation ladder"))
    expect(ladder).to_contain_text("Rung 1 · Manual step (8 steps)")

    # Rung 1 → 2: a helper script, written on the process page.
    page.get_by_role("link", name=f"Add a helper script to {LAST_STEP}").click()
    page.get_by_role("textbox", name="Script").fill("echo 'the application answered 200'")
    page.get_by_role("button", name="Save helper script").click()
    expect(ladder).to_contain_text("Rung 2 · Manual step with a helper script (1 step)")

    # The person the step waits for runs it from the deployment and proceeds with its output.
    release = release_create(project=project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    for interruption in iter(
        lambda: Interruption.objects.filter(deployment=deployment, pending=True).first(), None
    ):
        if interruption.title == LAST_STEP:
            break
        who = {"DBA Team": "sarah", "Ops Team": "olly"}[interruption.responsible_teams.get().name]
        interruption_submit(interruption=interruption, actor=octopus.users[who], result="proceed")
    interruption_take(interruption=interruption, actor=tina)
    tester = open_as(tina)
    tester.goto(deployment.get_absolute_url())
    panel = tester.locator("section.interruption")
    panel.get_by_role("button", name="Run helper script").click()
    expect(panel.get_by_label("Notes")).to_have_value(re.compile("the application answered 200"))
    panel.get_by_role("button", name="Proceed").click()
    expect(tester.locator("#messages")).to_contain_text(f"Proceeded with {LAST_STEP}.")

    # Rung 2 → 3.
    page.reload()
    page.get_by_role("button", name=f"Automate {LAST_STEP}").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text(f"Make {LAST_STEP} a script step")
    dialog.get_by_role("button", name="Automate").click()
    expect(page.locator("#messages")).to_contain_text("Step 8 now runs its script by itself")
    expect(ladder).to_contain_text("Rung 3 · Script step, runs by itself (1 step)")
    expect(ladder).to_contain_text(f"Check: {LAST_STEP}")
    screenshot(page, "automation-ladder")
    assert [s.kind for s in project.steps.order_by("position")][-2:] == ["script", "manual"]

    # Once the automation is trusted, the manual check goes.
    page.get_by_role("button", name=f"Remove Check: {LAST_STEP}").click()
    dialog.get_by_role("button", name="Remove step").click()
    expect(page.locator("#messages")).to_contain_text(f"Removed Check: {LAST_STEP}")
    expect(ladder).not_to_contain_text(f"Check: {LAST_STEP}")
    assert [s.kind for s in project.steps.order_by("position")][-1:] == ["script"]
