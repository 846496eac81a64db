"""Open pages follow what others do without a reload: a live region polls every two
seconds, is left as it is while nothing changes (204), and shows a change at the next
poll."""

import pytest
from playwright.sync_api import expect

from releases.models import Interruption
from releases.services import deployment_create, interruption_submit, interruption_take, release_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Two polls and some slack.
LIVE_TIMEOUT = 6000


def test_deployment_page_shows_a_take_and_the_next_step_made_elsewhere(open_as, dora, sarah, waiting):
    page = open_as(dora)
    page.goto(waiting.get_absolute_url())
    panel = page.locator(".interruption")
    expect(panel.get_by_role("button", name="Assign to me")).to_be_visible()
    # The region polls with its version and is left alone while nothing changes.
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status) if "/live/" in r.url else None)
    page.wait_for_timeout(2500)
    assert 204 in answers

    backup = Interruption.objects.get(deployment=waiting, pending=True)
    interruption_take(interruption=backup, actor=sarah)
    expect(panel).to_contain_text("Assigned to Sarah", timeout=LIVE_TIMEOUT)

    interruption_submit(interruption=Interruption.objects.get(pk=backup.pk), actor=sarah, result="proceed")
    following = Interruption.objects.get(deployment=waiting, pending=True)
    expect(page.get_by_role("heading", name=following.title)).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(page.locator("#task-log")).to_contain_text("Submitted by: Sarah", timeout=LIVE_TIMEOUT)


def test_dashboard_and_my_tasks_show_what_others_do(open_as, sarah, root, waiting):
    page = open_as(sarah)
    expect(page.locator("#dashboard-grid")).to_contain_text("1.0.0")
    page.wait_for_timeout(2500)  # the first poll renders the grid with its version
    release = release_create(project=waiting.project, version="1.1.0", actor=root)
    deployment_create(release=release, environment=waiting.environment, actor=root)
    expect(page.locator("#dashboard-grid")).to_contain_text("1.1.0", timeout=LIVE_TIMEOUT)

    page.goto("/tasks/")
    tasks = page.locator("#task-list .task")
    count = tasks.count()
    interruption_take(interruption=Interruption.objects.get(deployment=waiting, pending=True), actor=sarah)
    expect(page.locator("#task-list").get_by_role("button", name="Proceed")).to_be_visible(
        timeout=LIVE_TIMEOUT
    )
    assert tasks.count() == count
