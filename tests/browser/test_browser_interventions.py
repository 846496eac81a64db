"""The two seed stories in a real browser: the Octopus checklist (dashboard eye, Assign to
me, notes, Proceed; refusals; Abort's confirmation; two people racing) and the
BuildMaster one ("A manual task requires your attention" → My tasks → complete)."""

import re

import pytest
from playwright.sync_api import expect

from releases.choices import DeploymentState
from releases.models import Interruption
from releases.services import deployment_create, interruption_submit, interruption_take, release_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dashboard_shows_the_waiting_icon_for_manual_test(open_as, sarah, waiting, screenshot):
    page = open_as(sarah)
    row = page.get_by_role("row", name=re.compile("Manual Deployment"))
    chip = row.locator(f'a[href="{waiting.get_absolute_url()}"]')
    expect(chip).to_be_visible()
    expect(chip.locator('.badge[data-state="waiting"] svg.badge__icon--eye')).to_be_visible()
    expect(chip).to_contain_text("1.0.0")
    expect(page.locator("#attention-badge")).to_have_text("1 task needs your attention")
    expect(page).to_have_title(re.compile(r"^\(1\) Dashboard"))
    screenshot(page, "dashboard")


def test_assign_notes_proceed_then_the_next_step(open_as, sarah, waiting, screenshot):
    page = open_as(sarah)
    page.locator(f'a[href="{waiting.get_absolute_url()}"]').click()
    panel = page.locator("section.interruption")
    expect(panel.get_by_role("heading", name="Backup the database")).to_be_visible()
    screenshot(page, "deployment-waiting")
    panel.get_by_role("button", name="Assign to me").click()
    expect(panel.get_by_role("button", name="Proceed")).to_be_visible()
    notes = panel.get_by_label("Notes")
    notes.fill("backup-2026-03-03.bak\n4.2 GB")
    # the region refreshes every two seconds; what is being typed stays, and keeps focus
    with page.expect_response(lambda response: "/live/" in response.url):
        pass
    expect(notes).to_have_value("backup-2026-03-03.bak\n4.2 GB")
    expect(notes).to_be_focused()
    screenshot(page, "deployment")
    panel.get_by_role("button", name="Proceed").click()
    expect(
        page.locator("section.interruption").get_by_role("heading", name="Upgrade the database")
    ).to_be_visible()
    expect(page.locator("#messages")).to_contain_text("Proceeded with Backup the database.")
    # the log polls and shows who submitted, and their notes
    log = page.locator("#task-log")
    expect(log).to_contain_text("== Success: Step 1: Backup the database ==")
    expect(log).to_contain_text("Submitted by: Sarah (DBA Team) at ")
    expect(log).to_contain_text("Notes: backup-2026-03-03.bak")
    step = page.locator(".step").first
    expect(step).to_contain_text(re.compile(r"Submitted by Sarah .*: Proceed"))
    expect(step.locator(".notes")).to_contain_text("4.2 GB")
    screenshot(page, "deployment-after-proceed")


def test_another_team_sees_no_assign_button_and_why(open_as, olly, waiting):
    page = open_as(olly)
    page.goto(waiting.get_absolute_url())
    panel = page.locator("section.interruption")
    expect(panel.get_by_role("heading", name="Backup the database")).to_be_visible()
    expect(panel.get_by_role("button", name="Assign to me")).to_have_count(0)
    expect(panel).to_contain_text("Only members of DBA Team may take this step.")
    expect(page.locator("#attention-badge")).to_be_hidden()


def test_abort_asks_for_confirmation(open_as, sarah, waiting, screenshot):
    page = open_as(sarah)
    page.goto(waiting.get_absolute_url())
    panel = page.locator("section.interruption")
    panel.get_by_role("button", name="Assign to me").click()
    panel.get_by_label("Notes").fill("The backup disk is full.")
    panel.get_by_role("button", name="Abort").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Abort “Backup the database”?")
    screenshot(page, "abort-dialog")
    dialog.get_by_role("button", name="Go back").click()
    expect(dialog).to_be_hidden()
    page.wait_for_timeout(300)
    assert Interruption.objects.get(deployment=waiting, step__position=1).pending

    panel.get_by_role("button", name="Abort").click()
    dialog.get_by_role("button", name="Abort the step").click()
    expect(page.locator(".summary .badge")).to_contain_text("Failed")
    expect(page.locator("#messages")).to_contain_text("Aborted Backup the database.")
    expect(page.locator("#task-log")).to_contain_text("Notes: The backup disk is full.")
    waiting.refresh_from_db()
    assert waiting.state == DeploymentState.FAILED


def test_two_people_race_for_assign_and_exactly_one_wins(open_as, sarah, dora, waiting):
    pages = {user: open_as(user) for user in (sarah, dora)}
    for page in pages.values():
        page.goto(waiting.get_absolute_url())
        expect(page.get_by_role("button", name="Assign to me")).to_be_visible()
    for page in pages.values():
        page.get_by_role("button", name="Assign to me").click(no_wait_after=True)
    winner = Interruption.objects.get(deployment=waiting, pending=True)
    for _ in range(50):
        winner.refresh_from_db()
        if winner.assignee_id:
            break
        pages[sarah].wait_for_timeout(100)
    assert winner.assignee in (sarah, dora)
    loser = dora if winner.assignee == sarah else sarah
    expect(pages[winner.assignee].get_by_role("button", name="Proceed")).to_be_visible()
    loser_page = pages[loser]
    expect(loser_page.locator("section.interruption")).to_contain_text(f"Assigned to {winner.assignee}")
    expect(loser_page.get_by_role("button", name="Proceed")).to_have_count(0)
    expect(loser_page.get_by_role("button", name="Take over")).to_be_visible()
    expect(loser_page.locator("#messages")).to_contain_text(f"already assigned to {winner.assignee}")


def test_manual_task_requires_attention_then_my_tasks_then_complete(open_as, goodhealth, root, screenshot):
    integration, testing, _ = goodhealth.environments
    release = release_create(
        project=goodhealth.project, version="2.0.0", notes="Platform upgrade.", actor=root
    )
    deployment = deployment_create(release=release, environment=integration, actor=root)
    page = open_as(goodhealth.users["admin-ops"])
    badge = page.locator("#attention-badge")
    expect(badge).to_have_text("1 task needs your attention")
    badge.click()
    expect(page).to_have_url(re.compile("/tasks/$"))
    task = page.locator(".task")
    expect(task.get_by_role("heading", name="Migrate Data")).to_be_visible()
    expect(task).to_contain_text("GoodHealth")
    expect(task).to_contain_text("Integration")
    screenshot(page, "my-tasks")
    task.get_by_role("button", name="Assign to me").click()
    task.get_by_label("Notes").fill("Migrated 12,408 records.")
    screenshot(page, "my-tasks-assigned")
    task.get_by_role("button", name="Proceed").click()
    expect(page.get_by_text("Nothing needs you right now.")).to_be_visible()
    expect(badge).to_be_hidden()
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.SUCCESS
    # the pipeline moved on to Testing by itself
    page.goto("/")
    row = page.get_by_role("row", name=re.compile("GoodHealth"))
    expect(row.locator('.badge[data-state="success"]')).to_have_count(2)
    automatic = release.deployments.get(environment=testing)
    assert automatic.created_by is None
    page.goto(deployment.get_absolute_url())
    expect(page.locator("#task-log")).to_contain_text("Checking build of GoodHealth 2.0.0 for Integration")
    screenshot(page, "deployment-finished")


def test_screenshots_of_release_project_and_process(open_as, root, sarah, waiting, goodhealth, screenshot):
    # some history, so the pages have something to show: GoodHealth 1.9.0 went through
    # Integration (Migrate Data proceeded) and on to Testing; 2.0.0 waits in Integration
    admin_ops = goodhealth.users["admin-ops"]
    earlier = release_create(project=goodhealth.project, version="1.9.0", actor=root)
    deployment_create(release=earlier, environment=goodhealth.environments[0], actor=root)
    migrate = Interruption.objects.get(deployment__release=earlier, pending=True)
    interruption_take(interruption=migrate, actor=admin_ops)
    interruption_submit(interruption=migrate, actor=admin_ops, result="proceed", notes="Migrated.")
    assert set(earlier.deployments.values_list("state", flat=True)) == {DeploymentState.SUCCESS}
    release = release_create(project=goodhealth.project, version="2.0.0", actor=root)
    deployment_create(release=release, environment=goodhealth.environments[0], actor=root)
    page = open_as(root)
    page.goto(waiting.release.get_absolute_url())
    expect(page.get_by_role("heading", name="Lifecycle progression")).to_be_visible()
    expect(page.get_by_text("must first be deployed to Manual Test (phase Test)")).to_be_visible()
    screenshot(page, "release")
    page.goto(waiting.project.get_absolute_url())
    expect(page.get_by_role("heading", name="Create release")).to_be_visible()
    screenshot(page, "project")
    page.goto(f"{waiting.project.get_absolute_url()}process/")
    expect(page.get_by_role("heading", name="Backup the database")).to_be_visible()
    screenshot(page, "process")
    page.goto("/")
    screenshot(page, "dashboard-both-seeds")
    page.goto(release.get_absolute_url())
    screenshot(page, "release-goodhealth")
    page.goto(earlier.get_absolute_url())
    expect(page.get_by_role("link", name="Deploy to Production")).to_be_visible()
    screenshot(page, "release-progressed")
    phone = open_as(sarah, viewport={"width": 390, "height": 844})
    phone.goto(waiting.get_absolute_url())
    expect(phone.get_by_role("button", name="Assign to me")).to_be_visible()
    screenshot(phone, "deployment-phone")
