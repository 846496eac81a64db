"""A phone, a keyboard and labels: the deployment page and the dashboard fit a 375-px-wide
screen without scrolling sideways; the keyboard reaches and works the controls, with a
visible focus ring; every form field has a label; the dashboard remembers its filters."""

import re

import pytest
from playwright.sync_api import expect

from releases.services import deployment_create, release_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}

FIELDS_WITHOUT_A_NAME = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML)"""


def horizontal_overflow(page) -> int:
    """How many pixels the page is wider than the screen (0: no sideways scrolling)."""
    return page.evaluate(
        "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
    )


def test_deployment_page_fits_a_phone(open_as, sarah, waiting, screenshot):
    page = open_as(sarah, viewport=PHONE)
    page.goto(waiting.get_absolute_url())
    panel = page.locator("section.interruption")
    expect(panel.get_by_role("button", name="Assign to me")).to_be_visible()
    screenshot(page, "deployment-phone-375")
    assert horizontal_overflow(page) <= 0
    panel.get_by_role("button", name="Assign to me").click()
    expect(panel.get_by_label("Notes")).to_be_visible()
    expect(panel.get_by_role("button", name="Proceed")).to_be_visible()
    assert horizontal_overflow(page) <= 0
    # the actions are wide enough to hit with a thumb
    box = panel.get_by_role("button", name="Proceed").bounding_box()
    assert box["height"] >= 36
    screenshot(page, "deployment-phone-375-assigned")


def test_dashboard_fits_a_phone(open_as, sarah, waiting, goodhealth, root, screenshot):
    release = release_create(project=goodhealth.project, version="2.0.0", actor=root)
    deployment_create(release=release, environment=goodhealth.environments[0], actor=root)
    page = open_as(sarah, viewport=PHONE)
    expect(page.locator(f'a[href="{waiting.get_absolute_url()}"]')).to_be_visible()
    screenshot(page, "dashboard-phone-375")
    # the grid scrolls sideways inside its own box; the page does not
    assert horizontal_overflow(page) <= 0


def test_keyboard_reaches_and_works_the_intervention(open_as, sarah, waiting):
    page = open_as(sarah)
    page.goto(waiting.get_absolute_url())
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    assign = page.get_by_role("button", name="Assign to me")
    for _ in range(30):
        if page.evaluate("() => document.activeElement.textContent.trim()") == "Assign to me":
            break
        page.keyboard.press("Tab")
    expect(assign).to_be_focused()
    # the focus ring is drawn, and stands out from the white card (3:1 or more)
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor]; }"
    )
    assert outline[0] == "solid" and outline[1] >= 2, outline
    assert contrast(outline[2], "rgb(255, 255, 255)") >= 3, outline
    page.keyboard.press("Enter")
    notes = page.locator("section.interruption").get_by_label("Notes")
    expect(notes).to_be_visible()
    notes.focus()
    page.keyboard.type("Done from the keyboard.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Proceed")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text("Proceeded with Backup the database.")


def test_every_form_field_has_a_label(open_as, sarah, root, waiting, backup_taken_by_sarah):
    pages = {
        sarah: ["/", "/tasks/", waiting.get_absolute_url()],
        root: [waiting.project.get_absolute_url(), waiting.release.get_absolute_url()],
    }
    for user, urls in pages.items():
        page = open_as(user)
        for url in urls:
            page.goto(url)
            assert page.evaluate(FIELDS_WITHOUT_A_NAME) == [], url


def test_dashboard_remembers_filters_across_sign_in(
    open_as, sarah, waiting, goodhealth, live_server, screenshot
):
    page = open_as(sarah)
    page.get_by_label("Project", exact=True).select_option(label="GoodHealth")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"project="))
    expect(page.get_by_role("row", name=re.compile("Manual Deployment"))).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()

    page = open_as(sarah)  # signs in again, and lands on the bare dashboard
    expect(page.get_by_text("Showing the filters you chose last time.")).to_be_visible()
    expect(page.get_by_label("Project", exact=True)).to_have_value(str(goodhealth.project.pk))
    expect(page.get_by_role("row", name=re.compile("GoodHealth"))).to_have_count(1)
    expect(page.get_by_role("row", name=re.compile("Manual Deployment"))).to_have_count(0)
    screenshot(page, "dashboard-remembered-filters")
    page.get_by_role("button", name="Clear filters").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("row", name=re.compile("Manual Deployment"))).to_have_count(1)
    expect(page.get_by_role("button", name="Clear filters")).to_have_count(0)


@pytest.fixture
def backup_taken_by_sarah(waiting, sarah):
    """The notes box shows only to the assignee: sarah takes "Backup the database"."""
    from releases.models import Interruption
    from releases.services import interruption_take

    interruption_take(interruption=Interruption.objects.get(deployment=waiting, pending=True), actor=sarah)


def contrast(css_a: str, css_b: str) -> float:
    def luminance(css: str) -> float:
        r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
        channel = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * channel[0] + 0.7152 * channel[1] + 0.0722 * channel[2]

    light, dark = sorted((luminance(css_a), luminance(css_b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
