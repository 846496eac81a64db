"""The automation ladder in a browser: paste the seed's checklist into a new project, see
the preview, import it, then automate the step that has a helper script."""

from playwright.sync_api import expect

from processes.models import Step
from processes.services import project_create
from tests.processes.test_checklist import SEED_TABLE

LAST_STEP = "Check the application loads as expected"


def test_paste_the_seed_checklist_then_automate_a_step(open_as, octopus, root, editor, screenshot):
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

    # The helper script is added in the admin site; the ladder then offers the next rung.
    step = Step.objects.get(project=project, name=LAST_STEP)
    step.script = "echo ok"
    step.save(update_fields=["script"])
    page.reload()
    expect(ladder).to_contain_text("Rung 2 · Manual step with a helper script (1 step)")
    page.get_by_role("button", name=f"Automate {LAST_STEP}").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text(f"Make {LAST_STEP} a script step")
    dialog.get_by_role("button", name="Automate").click()
    expect(page.locator("#messages")).to_contain_text("Step 8 now runs its script by itself")
    expect(ladder).to_contain_text("Rung 3 · Script step, runs by itself (1 step)")
    expect(ladder).to_contain_text(f"Check: {LAST_STEP}")
    screenshot(page, "automation-ladder")
    assert [s.kind for s in project.steps.order_by("position")][-2:] == ["script", "manual"]
