"""Every page: who sees what, and what is out of scope (404)."""

import pytest
from django.urls import reverse

from releases.choices import DeploymentState


def test_every_page_but_sign_in_requires_sign_in(client, waiting, backup):
    pages = [
        reverse("dashboard"),
        reverse("releases:interruption_list"),
        waiting.project.get_absolute_url(),
        reverse("processes:process_detail", args=[waiting.project.slug]),
        waiting.release.get_absolute_url(),
        waiting.get_absolute_url(),
        reverse("releases:deployment_live", args=[waiting.pk]),
        reverse("releases:deployment_log", args=[waiting.pk]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next="), url
    assert client.get(reverse("login")).status_code == 200


def test_sign_in_and_out(client, sarah):
    sarah.set_password("s3cret-pass")
    sarah.save()
    response = client.post(reverse("login"), {"username": "sarah", "password": "s3cret-pass"})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    page = client.get(reverse("dashboard"))
    assert "Sarah" in page.content.decode()
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


def test_sign_in_refuses_a_wrong_password(client, sarah):
    response = client.post(reverse("login"), {"username": "sarah", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_dashboard_shows_the_waiting_deployment_with_the_eye(signed_in, sarah, waiting):
    response = signed_in(sarah).get(reverse("dashboard"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Default Project Group" in html
    assert "Manual Deployment" in html
    assert "Manual Test" in html and "Manual Live" in html
    assert 'data-state="waiting"' in html
    assert "badge--orange" in html
    assert "badge__icon--eye" in html
    assert waiting.get_absolute_url() in html
    # the live region polls itself every two seconds
    assert 'hx-trigger="every 2s"' in html


def test_dashboard_answers_htmx_with_the_grid_alone(signed_in, sarah, waiting):
    response = signed_in(sarah).get(reverse("dashboard"), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<table" in html
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]
    # the title and the attention badge refresh with it
    assert "<title>(1) Dashboard · Relman</title>" in html
    assert 'id="attention-badge"' in html and 'hx-swap-oob="true"' in html


def test_dashboard_filters(signed_in, sarah, waiting, goodhealth):
    client = signed_in(sarah)
    manual_test = waiting.environment
    html = client.get(reverse("dashboard"), {"project": goodhealth.project.pk}).content.decode()
    assert "GoodHealth" in html
    assert ">Manual Deployment</a>" not in html
    html = client.get(reverse("dashboard"), {"environment": manual_test.pk}).content.decode()
    assert waiting.get_absolute_url() in html
    assert '<th scope="col">Manual Live</th>' not in html
    html = client.get(
        reverse("dashboard"), {"group": "999999", "project": ["nonsense", "²"]}
    ).content.decode()
    assert "No projects to show." in html


def test_dashboard_shows_nothing_to_an_outsider(signed_in, oscar, waiting):
    html = signed_in(oscar).get(reverse("dashboard")).content.decode()
    assert "No projects to show." in html
    assert waiting.get_absolute_url() not in html


def test_attention_badge_and_title_count_my_tasks(signed_in, sarah, olly, waiting):
    html = signed_in(sarah).get(reverse("dashboard")).content.decode()
    assert "<title>(1) Dashboard · Relman</title>" in html
    assert "1</span> task needs your attention" in html
    html = signed_in(olly).get(reverse("dashboard")).content.decode()
    assert "<title>Dashboard · Relman</title>" in html
    assert "needs your attention" not in html and "need your attention" not in html


def test_my_tasks_lists_what_waits_for_me(signed_in, sarah, waiting, backup):
    html = signed_in(sarah).get(reverse("releases:interruption_list")).content.decode()
    assert "Backup the database" in html
    assert "Manual Deployment" in html and "1.0.0" in html and "Manual Test" in html
    assert "Step 1: Backup the database" in html
    assert "Nobody yet" in html
    assert reverse("releases:interruption_take", args=[backup.pk]) in html
    assert "Assign to me" in html
    assert 'hx-trigger="every 2s"' in html


def test_my_tasks_is_empty_for_another_team(signed_in, olly, waiting):
    html = signed_in(olly).get(reverse("releases:interruption_list")).content.decode()
    assert "Nothing needs you right now." in html
    assert "Backup the database" not in html


def test_my_tasks_shows_proceed_and_abort_once_assigned(signed_in, sarah, backup):
    from releases.services import interruption_take

    interruption_take(interruption=backup, actor=sarah)
    html = signed_in(sarah).get(reverse("releases:interruption_list")).content.decode()
    assert 'value="proceed"' in html and 'value="abort"' in html
    assert "data-confirm=" in html
    assert 'name="notes"' in html


def test_project_page_shows_releases_by_environment(signed_in, sarah, waiting):
    html = signed_in(sarah).get(waiting.project.get_absolute_url()).content.decode()
    assert "Manual Deployment Lifecycle" in html
    assert waiting.release.get_absolute_url() in html
    assert waiting.get_absolute_url() in html
    assert '<th scope="col">Manual Test</th>' in html
    # sarah is a deployer, not a release creator
    assert "Create release" not in html


def test_project_page_offers_create_release_to_release_creators(signed_in, root, waiting):
    html = signed_in(root).get(waiting.project.get_absolute_url()).content.decode()
    assert "Create release" in html
    assert 'value="1.0.1"' in html  # the next version is suggested


def test_project_page_is_404_for_an_outsider(signed_in, oscar, octopus):
    assert signed_in(oscar).get(octopus.project.get_absolute_url()).status_code == 404
    assert (
        signed_in(oscar).get(reverse("processes:process_detail", args=[octopus.project.slug])).status_code
        == 404
    )


def test_process_page_lists_the_steps_in_order(signed_in, vera, octopus):
    html = (
        signed_in(vera).get(reverse("processes:process_detail", args=[octopus.project.slug])).content.decode()
    )
    # The ladder above lists steps by rung; the process lists them in order.
    process = html[html.index('id="process-heading"') :]
    positions = [
        process.index(name)
        for name in ("Backup the database", "Upgrade the database", "Check the application")
    ]
    assert positions == sorted(positions)
    assert "DBA Team" in html and "Ops Team" in html and "Test Team" in html
    assert "Manual intervention" in html
    assert "Prevent other deployments while awaiting intervention" in html
    assert "Allow other deployments while awaiting intervention" in html
    assert "Only if nothing before failed" in html
    assert "<strong>full backup</strong>" not in html  # instructions are Markdown, rendered
    assert "Paste the backup file name and size into <strong>Notes</strong>" in html


def test_process_page_shows_scripts_and_environment_limits(signed_in, root, goodhealth):
    html = (
        signed_in(root)
        .get(reverse("processes:process_detail", args=[goodhealth.project.slug]))
        .content.decode()
    )
    assert "Build check" in html and "Script" in html
    assert "Checking build of $RELMAN_PROJECT" in html
    assert "Migrate Data" in html and "Integration" in html


def test_release_page_shows_progression_and_deploy_buttons(signed_in, sarah, waiting):
    html = signed_in(sarah).get(waiting.release.get_absolute_url()).content.decode()
    assert "First <strong>tracked</strong> release." in html
    assert "Test" in html and "Live" in html
    assert "Redeploy to Manual Test" in html
    assert (
        reverse("releases:deployment_create", args=[waiting.release.pk]) + "?environment=manual-test" in html
    )
    # Live is closed until Test succeeds, and the disabled button says why
    assert "Release 1.0.0 of Manual Deployment must first be deployed to Manual Test (phase Test)." in html
    assert "?environment=manual-live" not in html


def test_release_page_says_a_viewer_lacks_the_deployer_role(signed_in, vera, waiting):
    html = signed_in(vera).get(waiting.release.get_absolute_url()).content.decode()
    assert "You need the deployer role on Manual Deployment in Manual Test to deploy there." in html
    assert "?environment=" not in html


def test_release_page_is_404_for_an_outsider(signed_in, oscar, waiting):
    assert signed_in(oscar).get(waiting.release.get_absolute_url()).status_code == 404


def test_deployment_page_for_the_responsible_team(signed_in, sarah, waiting, backup):
    html = signed_in(sarah).get(waiting.get_absolute_url()).content.decode()
    assert "Created by Root" in html
    assert "Backup the database" in html
    assert "Take a full backup of the application database" in html
    assert "<strong>Notes</strong>" in html  # rendered instructions
    assert "DBA Team" in html
    assert "Assign to me" in html
    assert reverse("releases:interruption_take", args=[backup.pk]) in html
    # the task log, in the seed's words
    assert "Manual intervention &quot;Backup the database&quot; is waiting for DBA Team." in html
    assert "Deployment will pause until a member of DBA Team proceeds or aborts" in html
    # sarah is a deployer: she may cancel
    assert "Cancel deployment" in html
    # live parts
    assert reverse("releases:deployment_live", args=[waiting.pk]) in html
    assert reverse("releases:deployment_log", args=[waiting.pk]) + "?after=" in html


def test_deployment_page_tells_another_team_why_not(signed_in, olly, waiting):
    html = signed_in(olly).get(waiting.get_absolute_url()).content.decode()
    assert "Assign to me" not in html
    assert "Only members of DBA Team may take this step." in html


def test_deployment_page_hides_cancel_from_a_viewer(signed_in, vera, waiting):
    html = signed_in(vera).get(waiting.get_absolute_url()).content.decode()
    assert "Cancel deployment" not in html
    assert "Only members of DBA Team may take this step." in html


def test_deployment_page_is_404_for_an_outsider(signed_in, oscar, waiting):
    client = signed_in(oscar)
    response = client.get(waiting.get_absolute_url())
    assert response.status_code == 404
    assert "nothing you have a role that lets you see" in response.content.decode()
    assert client.get(reverse("releases:deployment_live", args=[waiting.pk])).status_code == 404
    assert client.get(reverse("releases:deployment_log", args=[waiting.pk])).status_code == 404


def test_system_deployment_says_system(signed_in, root, goodhealth, engine):
    from releases.models import Interruption
    from releases.services import deployment_create, interruption_submit, release_create

    integration, testing, _ = goodhealth.environments
    with engine():
        release = release_create(project=goodhealth.project, version="2.0.0", actor=root)
        deployment = deployment_create(release=release, environment=integration, actor=root)
    with engine():
        interruption_submit(
            interruption=Interruption.objects.get(deployment=deployment, pending=True),
            actor=goodhealth.users["admin-ops"],
            result="proceed",
            notes="1,204 records",
        )
    automatic = release.deployments.get(environment=testing)
    html = signed_in(root).get(automatic.get_absolute_url()).content.decode()
    assert "Created by System" in html
    # a finished deployment stops polling
    assert 'hx-trigger="every 2s"' not in html
    # the answered intervention shows who proceeded, with their notes
    html = signed_in(root).get(deployment.get_absolute_url()).content.decode()
    assert "Submitted by <strong>Admin Ops</strong>" in html
    assert "</time>: Proceed</p>" in html
    assert "1,204 records" in html


def test_deployment_live_partial(signed_in, sarah, waiting):
    response = signed_in(sarah).get(
        reverse("releases:deployment_live", args=[waiting.pk]), headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert 'id="deployment-live"' in html
    assert "<html" not in html
    assert "Assign to me" in html
    assert "<title>(1) Manual Deployment 1.0.0 to Manual Test · Relman</title>" in html


def test_deployment_log_after_returns_only_newer_lines(signed_in, sarah, waiting):
    entries = list(waiting.log_entries.order_by("id"))
    client = signed_in(sarah)
    url = reverse("releases:deployment_log", args=[waiting.pk])
    html = client.get(url, {"after": entries[-2].pk}).content.decode()
    assert entries[-1].message in html
    assert entries[0].message not in html
    assert f"?after={entries[-1].pk}" in html  # the next poll asks for what follows
    html = client.get(url, {"after": entries[-1].pk}).content.decode()
    assert "log__line" not in html
    assert f"?after={entries[-1].pk}" in html
    html = client.get(url, {"after": "²"}).content.decode()
    assert entries[0].message in html  # nonsense reads from the start
    assert f"?after={entries[-1].pk}" in html


def test_log_stops_polling_when_the_deployment_is_finished(signed_in, sarah, waiting, engine):
    from releases.services import deployment_cancel

    with engine():
        deployment_cancel(deployment=waiting, actor=sarah)
    waiting.refresh_from_db()
    assert waiting.state == DeploymentState.CANCELLED
    html = signed_in(sarah).get(reverse("releases:deployment_log", args=[waiting.pk])).content.decode()
    assert "Deployment cancelled by Sarah" in html
    assert "hx-get" not in html


@pytest.mark.parametrize("state", ["waiting", "success", "failed", "queued", "executing", "cancelled"])
def test_state_badge_colours(state):
    from django.template import Context, Template

    html = Template("{% load releases_tags %}{% state_badge state %}").render(Context({"state": state}))
    from releases.choices import STATE_BADGES

    assert f"badge--{STATE_BADGES[state][0]}" in html
    assert f'data-state="{state}"' in html


def test_a_queued_deployment_says_what_it_waits_for(signed_in, sarah, waiting, root, engine):
    from releases.services import deployment_create, release_create

    # "Backup the database" prevents other deployments while it waits
    with engine():
        release = release_create(project=waiting.project, version="1.0.1", actor=root)
        queued = deployment_create(release=release, environment=waiting.environment, actor=root)
    queued.refresh_from_db()
    assert queued.state == DeploymentState.QUEUED
    html = signed_in(sarah).get(queued.get_absolute_url()).content.decode()
    assert (
        f'Waits for <a href="{waiting.get_absolute_url()}">1.0.0</a> (waiting for a person) to free Manual Test.'
        in html
    )


def test_project_page_ranks_releases_by_version(signed_in, root, octopus):
    from releases.services import release_create

    for version in ("1.0.9", "1.0.10", "1.0.2"):
        release_create(project=octopus.project, version=version, actor=root)
    html = signed_in(root).get(octopus.project.get_absolute_url()).content.decode()
    assert html.index(">1.0.10</a>") < html.index(">1.0.9</a>") < html.index(">1.0.2</a>")
    assert 'value="1.0.11"' in html
