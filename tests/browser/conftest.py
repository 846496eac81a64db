"""Browser tests: Playwright drives the system Chromium against pytest-django's live
server. Tasks are eager in tests and Celery messages are published on commit, so a
deployment advances inside the request (or fixture) that moves it.

RELMAN_CHROMIUM: the Chromium to drive (default /usr/bin/chromium).
RELMAN_ARTIFACTS_DIR: where screenshots go (default test-artifacts/screenshots).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from releases.models import Deployment
from releases.services import deployment_create, release_create
from teams.models import Team, User

CHROMIUM = os.environ.get("RELMAN_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS_DIR = Path(os.environ.get("RELMAN_ARTIFACTS_DIR", "test-artifacts/screenshots"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-test-pass"
_saved: list[Path] = []


def pytest_terminal_summary(terminalreporter):
    if _saved:
        terminalreporter.write_line(f"Screenshots of the main pages: {ARTIFACTS_DIR.resolve()}")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"No Chromium at {CHROMIUM} (set RELMAN_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests
    # make between browser steps are still plain synchronous calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def open_as(browser, live_server, transactional_db):
    """``open_as(user)``: a new browser context signed in as ``user`` through the sign-in
    page, with its page; the page fails the test on any Content-Security-Policy violation."""
    contexts = []

    def sign_in(user: User, *, viewport: dict | None = None):
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
        context = browser.new_context(
            base_url=live_server.url, viewport=viewport or {"width": 1366, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        page.csp_errors = []
        page.on(
            "console",
            lambda message: (
                page.csp_errors.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.goto("/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/")
        return page

    yield sign_in
    for context in contexts:
        for page in context.pages:
            assert page.csp_errors == [], page.csp_errors
        context.close()


@pytest.fixture
def screenshot():
    """``screenshot(page, name)``: a full-page PNG in RELMAN_ARTIFACTS_DIR."""

    def save(page, name: str) -> Path:
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS_DIR / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        _saved.append(path)
        return path

    return save


@pytest.fixture
def dora(octopus):
    user = User.objects.create_user("dora", display_name="Dora")
    Team.objects.get(name="DBA Team").members.add(user)
    return user


@pytest.fixture
def waiting(octopus, root) -> Deployment:
    """Manual Deployment 1.0.0 deployed to Manual Test, waiting at "Backup the database"."""
    release = release_create(
        project=octopus.project,
        version="1.0.0",
        notes="First tracked release of the **manual checklist**.\n\n- DBA: backup and upgrade\n- Ops: files\n- Test: smoke test",
        actor=root,
    )
    deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    deployment.refresh_from_db()
    return deployment
