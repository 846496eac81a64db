"""Insights in a browser: from the navigation to a project's charts, each with its table,
on a phone's width and under the strict Content-Security-Policy (open_as fails on any
violation)."""

import pytest
from playwright.sync_api import expect

from relman import demo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}


def test_insights_charts_and_their_tables(open_as, octopus, sarah, screenshot):
    demo.history_demo(octopus, sarah)
    page = open_as(sarah, viewport=PHONE)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Insights").click()
    overview = page.get_by_role("table")
    expect(overview.get_by_role("row").nth(1)).to_contain_text("Upgrade the database")
    overview.get_by_role("link", name="Manual Deployment").first.click()

    expect(page.get_by_role("heading", name="Automate next")).to_be_visible()
    expect(page.locator("ol.ranking li").first).to_contain_text("Upgrade the database:")
    charts = page.locator("figure.chart svg[role=img]")
    expect(charts).to_have_count(6)
    expect(page.locator("svg rect.chart__bar--level1").first).to_be_visible()
    assert (
        page.evaluate("() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth")
        <= 0
    )

    table = page.locator("details.chart__table").filter(has_text="Every step's figures")
    expect(table.get_by_role("table")).to_be_hidden()
    table.locator("summary").click()
    rows = table.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(1 + 8)
    expect(rows.nth(2)).to_contain_text("Upgrade the database")
    screenshot(page, "insights-phone-375")
