"""Live regions poll every two seconds naming the version they show; a poll whose region
would be the same is answered 204 with nothing read but the version and nothing
rendered, and any change the region would show gives it a new version and a re-render."""

import re
from html import unescape

import pytest
from django.urls import reverse

from lifecycles.services import environment_update
from processes.services import project_update
from releases.choices import DeploymentState
from releases.models import Interruption
from releases.services import deployment_cancel, deployment_create, interruption_take, release_create
from teams.choices import Role
from teams.models import RoleGrant, Team

HTMX = {"HX-Request": "true"}
DASHBOARD = reverse("dashboard")
TASKS = reverse("releases:interruption_list")

# Reading the version: the session and the user, then a handful of rows sets
# (selectors *_version) whatever the size of the data; a grant's scope adds its own.
UNCHANGED_MAX_QUERIES = {"root": 7, "sarah": 12}


def next_url(html: str, region: str) -> str:
    """The URL the region polls next, as htmx reads it from the fragment."""
    match = re.search(rf'id="{region}"[^>]*?hx-get="([^"]*)"', html)
    assert match, f"no polling #{region}"
    return unescape(match.group(1))


def poll(client, url: str):
    return client.get(url, headers=HTMX)


def first_poll(client, url: str, region: str) -> str:
    """The poll after the page loads: the region rendered with its version."""
    response = poll(client, url)
    assert response.status_code == 200
    url = next_url(response.content.decode(), region)
    assert "shown=" in url
    return url


def assert_unchanged(response) -> None:
    assert response.status_code == 204
    assert response.content == b""
    assert response.templates == []
    assert "HX-Request" in response["Vary"]


def live_url(deployment) -> str:
    return reverse("releases:deployment_live", args=[deployment.pk])


# --- the dashboard -----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["root", "sarah"])
def test_unchanged_dashboard_poll_answers_204_without_rendering(
    request, signed_in, waiting, django_assert_max_num_queries, persona
):
    client = signed_in(request.getfixturevalue(persona))
    # The page itself polls without a version; its first poll renders the grid once.
    assert next_url(client.get(DASHBOARD).content.decode(), "dashboard-grid") == DASHBOARD
    url = first_poll(client, DASHBOARD, "dashboard-grid")
    # One more than the other polls: the freezes applying now, which mark cells.
    with django_assert_max_num_queries(UNCHANGED_MAX_QUERIES[persona] + 1):
        response = poll(client, url)
    assert_unchanged(response)


def test_dashboard_poll_keeps_its_filters_and_version(signed_in, sarah, waiting, goodhealth):
    client = signed_in(sarah)
    filtered = f"{DASHBOARD}?project={waiting.project.pk}"
    url = first_poll(client, filtered, "dashboard-grid")
    assert url.startswith(f"{filtered}&shown=")
    assert_unchanged(poll(client, url))
    # The unfiltered grid is another one, with a version of its own.
    assert poll(client, url.replace(filtered + "&", DASHBOARD + "?")).status_code == 200


def test_dashboard_poll_renders_a_new_deployment_and_a_state_change(signed_in, root, waiting, engine):
    client = signed_in(root)
    url = first_poll(client, DASHBOARD, "dashboard-grid")
    with engine():
        release = release_create(project=waiting.project, version="1.0.1", actor=root)
        deployment_create(release=release, environment=waiting.environment, actor=root)
    response = poll(client, url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "1.0.1" in html
    url = next_url(html, "dashboard-grid")
    assert_unchanged(poll(client, url))

    newest = release.deployments.get()
    with engine():
        deployment_cancel(deployment=newest, actor=root)
    response = poll(client, url)
    assert response.status_code == 200
    assert 'data-state="cancelled"' in response.content.decode()


def test_dashboard_poll_renders_a_renamed_project_or_environment(signed_in, root, waiting):
    client = signed_in(root)
    url = first_poll(client, DASHBOARD, "dashboard-grid")
    project_update(project=waiting.project, name="Manual Deployment Renamed", actor=root)
    response = poll(client, url)
    assert response.status_code == 200
    assert "Manual Deployment Renamed" in response.content.decode()

    url = next_url(response.content.decode(), "dashboard-grid")
    environment_update(environment=waiting.environment, name="Renamed Test", actor=root)
    response = poll(client, url)
    assert response.status_code == 200
    assert "Renamed Test" in response.content.decode()


def test_dashboard_poll_renders_when_a_grant_shows_more(signed_in, oscar, waiting):
    client = signed_in(oscar)
    url = first_poll(client, DASHBOARD, "dashboard-grid")
    assert_unchanged(poll(client, url))
    team = Team.objects.create(name="Watchers")
    team.members.add(oscar)
    RoleGrant.objects.create(team=team, role=Role.VIEWER)
    response = poll(client, url)
    assert response.status_code == 200
    assert waiting.project.name in response.content.decode()


def test_dashboard_poll_renders_when_the_attention_badge_changes(signed_in, sarah, dora, backup, engine):
    client = signed_in(dora)
    url = first_poll(client, DASHBOARD, "dashboard-grid")
    assert_unchanged(poll(client, url))
    with engine():
        interruption_take(interruption=backup, actor=sarah)
    # The grid looks the same, but the backup no longer waits for dora: her badge goes.
    response = poll(client, url)
    assert response.status_code == 200
    assert 'id="attention-badge" class="attention" href="/tasks/" hidden' in response.content.decode()


# --- a deployment's page -----------------------------------------------------------------------


def test_unchanged_deployment_poll_answers_204(signed_in, sarah, waiting, django_assert_max_num_queries):
    client = signed_in(sarah)
    page = client.get(waiting.get_absolute_url()).content.decode()
    url = next_url(page, "deployment-live")
    assert "shown=" in url
    with django_assert_max_num_queries(UNCHANGED_MAX_QUERIES["sarah"]):
        response = poll(client, url)
    assert_unchanged(response)


def test_deployment_poll_renders_a_take_by_someone_else(signed_in, sarah, dora, waiting, backup, engine):
    client = signed_in(dora)
    url = next_url(client.get(waiting.get_absolute_url()).content.decode(), "deployment-live")
    with engine():
        interruption_take(interruption=backup, actor=sarah)
    response = poll(client, url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Assigned to <strong>Sarah</strong>" in html
    assert_unchanged(poll(client, next_url(html, "deployment-live")))


def test_deployment_poll_renders_the_next_step(signed_in, sarah, waiting, backup, engine):
    from releases.services import interruption_submit

    client = signed_in(sarah)
    with engine():
        interruption_take(interruption=backup, actor=sarah)
    url = next_url(client.get(waiting.get_absolute_url()).content.decode(), "deployment-live")
    with engine():
        interruption_submit(
            interruption=Interruption.objects.get(pk=backup.pk), actor=sarah, result="proceed"
        )
    response = poll(client, url)
    assert response.status_code == 200
    assert Interruption.objects.get(deployment=waiting, pending=True).title in response.content.decode()


def test_deployment_poll_renders_when_the_user_may_no_longer_take(signed_in, sarah, vera, waiting, backup):
    Team.objects.get(name="Auditors").members.add(sarah)  # she still sees the deployment
    client = signed_in(sarah)
    page = client.get(waiting.get_absolute_url()).content.decode()
    assert "Assign to me" in page
    Team.objects.get(name="DBA Team").members.remove(sarah)
    response = poll(client, next_url(page, "deployment-live"))
    assert response.status_code == 200
    assert "Assign to me" not in response.content.decode()


def test_finished_deployment_stops_polling(signed_in, sarah, waiting, engine):
    client = signed_in(sarah)
    url = next_url(client.get(waiting.get_absolute_url()).content.decode(), "deployment-live")
    with engine():
        deployment_cancel(deployment=waiting, actor=sarah)
    response = poll(client, url)
    assert response.status_code == 200
    waiting.refresh_from_db()
    assert waiting.state == DeploymentState.CANCELLED
    assert 'id="deployment-live" class="live stack">' in response.content.decode()


# --- My tasks ----------------------------------------------------------------------------------


def test_unchanged_task_list_poll_answers_204_after_one_query(
    signed_in, sarah, backup, django_assert_max_num_queries
):
    client = signed_in(sarah)
    url = next_url(client.get(TASKS).content.decode(), "task-list")
    assert "shown=" in url
    with django_assert_max_num_queries(UNCHANGED_MAX_QUERIES["sarah"]):
        response = poll(client, url)
    assert_unchanged(response)


def test_task_list_poll_renders_a_take_by_someone_else(signed_in, sarah, dora, backup, engine):
    client = signed_in(dora)
    url = next_url(client.get(TASKS).content.decode(), "task-list")
    assert f'id="task-{backup.pk}"' in client.get(TASKS).content.decode()
    with engine():
        interruption_take(interruption=backup, actor=sarah)
    response = poll(client, url)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="task-{backup.pk}"' not in html
    assert_unchanged(poll(client, next_url(html, "task-list")))


def test_task_list_answer_to_an_action_replaces_the_region_and_polls_again(signed_in, sarah, backup):
    response = signed_in(sarah).post(
        reverse("releases:interruption_take", args=[backup.pk]),
        headers={"HX-Request": "true", "HX-Target": "task-list"},
    )
    html = response.content.decode()
    assert html.count('id="task-list"') == 1
    assert 'hx-target="#task-list" hx-swap="outerHTML"' in html
    assert next_url(html, "task-list") == TASKS
