"""Step templates in a browser: a project editor adds an HTTP health check from the template
library on the process page, with a parameter refused first and then given."""

from playwright.sync_api import expect

from processes.models import Step, StepTemplate


def test_add_an_http_health_check_from_a_template(open_as, shipped_templates, octopus, editor, screenshot):
    page = open_as(editor)
    page.goto(f"/projects/{octopus.project.slug}/process/")
    page.get_by_role("link", name="Add step from template").click()
    # Choosing loads the template's fields in place (htmx); "Choose" does it without script.
    page.get_by_label("Template", exact=True).select_option(label="HTTP health check (version 1)")
    expect(page.get_by_label("Expected status")).to_have_value("200")
    page.get_by_label("Step name").fill("Check the site answers")
    page.get_by_role("button", name="Add step").click()
    expect(page.get_by_role("alert").first).to_contain_text("Parameter Url (URL) needs a value")

    page.get_by_label("URL (required)", exact=True).fill("https://#{AppHost}/healthz")
    page.get_by_label("Expected text").fill("it's up")
    page.get_by_label("Target roles").fill("web")
    screenshot(page, "step-from-template")
    page.get_by_role("button", name="Add step").click()
    expect(page.locator("#messages")).to_contain_text("Added Check the site answers from HTTP health check")
    ladder = page.locator("section", has=page.get_by_role("heading", name="Automation ladder"))
    expect(ladder).to_contain_text("Rung 3 · Script step, runs by itself (1 step)")
    expect(page.get_by_text("HTTP health check v1")).to_be_visible()

    step = Step.objects.get(project=octopus.project, name="Check the site answers")
    assert step.template == StepTemplate.objects.get(name="HTTP health check")
    assert step.parameters["ExpectedText"] == "it's up" and step.target_roles == ["web"]
    assert step.position == Step.objects.filter(project=octopus.project).count()
