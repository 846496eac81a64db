"""Every action a page posts: it calls the service, shows the refusal with the persona it
refuses, and answers htmx with the refreshed region."""

from django.urls import reverse

from releases.choices import DeploymentState, StepState
from releases.models import Deployment, Interruption, Release
from releases.services import interruption_take
from teams.models import AuditEvent


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- take -----------------------------------------------------------------------------------


def test_assign_to_me_then_redirect(signed_in, sarah, waiting, backup, engine):
    client = signed_in(sarah)
    with engine():
        response = client.post(
            reverse("releases:interruption_take", args=[backup.pk]), REMOTE_ADDR="10.0.0.7"
        )
    assert response.status_code == 302
    assert response["Location"] == waiting.get_absolute_url()
    backup.refresh_from_db()
    assert backup.assignee == sarah
    event = AuditEvent.objects.get(action="interruption.taken")
    assert event.source_ip == "10.0.0.7"
    page = client.get(response["Location"])
    assert "Backup the database is assigned to you." in messages_of(page)
    html = page.content.decode()
    assert 'value="proceed"' in html and 'value="abort"' in html


def test_assign_to_me_with_htmx_returns_the_region_and_the_message(signed_in, sarah, waiting, backup):
    response = signed_in(sarah).post(
        reverse("releases:interruption_take", args=[backup.pk]),
        headers={"HX-Request": "true", "HX-Target": "deployment-live"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="deployment-live"' in html
    assert 'value="proceed"' in html
    assert 'id="messages" class="messages" role="status" aria-live="polite" hx-swap-oob="true"' in html
    assert "Backup the database is assigned to you." in html


def test_assign_from_my_tasks_with_htmx_returns_the_task_list(signed_in, sarah, backup):
    response = signed_in(sarah).post(
        reverse("releases:interruption_take", args=[backup.pk]),
        headers={"HX-Request": "true", "HX-Target": "task-list"},
    )
    html = response.content.decode()
    assert 'id="task-' in html and 'value="proceed"' in html
    assert 'id="deployment-live"' not in html


def test_take_refused_for_member_of_other_team(signed_in, olly, waiting, backup):
    client = signed_in(olly)
    response = client.post(reverse("releases:interruption_take", args=[backup.pk]), follow=True)
    assert "Only members of DBA Team may take this step." in messages_of(response)
    backup.refresh_from_db()
    assert backup.assignee is None


def test_take_refused_for_a_viewer(signed_in, vera, backup):
    response = signed_in(vera).post(reverse("releases:interruption_take", args=[backup.pk]), follow=True)
    assert "Only members of DBA Team may take this step." in messages_of(response)


def test_take_is_404_for_an_outsider(signed_in, oscar, backup):
    assert signed_in(oscar).post(reverse("releases:interruption_take", args=[backup.pk])).status_code == 404
    assert signed_in(oscar).post(reverse("releases:interruption_submit", args=[backup.pk])).status_code == 404


def test_take_needs_post(signed_in, sarah, backup):
    assert signed_in(sarah).get(reverse("releases:interruption_take", args=[backup.pk])).status_code == 405


def test_second_taker_is_told_who_holds_it(signed_in, sarah, dora, waiting, backup):
    interruption_take(interruption=backup, actor=sarah)
    client = signed_in(dora)
    response = client.post(reverse("releases:interruption_take", args=[backup.pk]), follow=True)
    assert (
        "Backup the database is already assigned to Sarah. Take it over to act instead of them."
        in messages_of(response)
    )
    html = response.content.decode()
    assert "Assigned to <strong>Sarah</strong>" in html
    assert "Take over" in html
    assert 'value="proceed"' not in html


def test_take_over(signed_in, sarah, dora, waiting, backup):
    interruption_take(interruption=backup, actor=sarah)
    client = signed_in(dora)
    client.post(reverse("releases:interruption_take", args=[backup.pk]), {"take_over": "1"})
    backup.refresh_from_db()
    assert backup.assignee == dora
    assert waiting.log_entries.filter(message="Dora took over Backup the database from Sarah.").exists()


def test_superuser_override_needs_a_reason(signed_in, root, waiting, backup):
    client = signed_in(root)
    html = client.get(waiting.get_absolute_url()).content.decode()
    assert "Override as superuser" in html
    response = client.post(
        reverse("releases:interruption_take", args=[backup.pk]), {"override": "1"}, follow=True
    )
    assert "An override needs a reason, recorded in the task log and audit trail." in messages_of(response)
    client.post(
        reverse("releases:interruption_take", args=[backup.pk]),
        {"override": "1", "reason": "DBA team is out"},
    )
    backup.refresh_from_db()
    assert backup.assignee == root


def test_override_neither_offered_nor_allowed_to_the_superuser_who_created_the_deployment(
    signed_in, root, waiting, backup
):
    Interruption.objects.filter(pk=backup.pk).update(prevent_self_approval=True)
    client = signed_in(root)
    html = client.get(waiting.get_absolute_url()).content.decode()
    assert "Override as superuser" not in html
    response = client.post(
        reverse("releases:interruption_take", args=[backup.pk]),
        {"override": "1", "reason": "DBA team is out"},
        follow=True,
    )
    assert (
        "You created this deployment and this step prevents self-approval: another member of DBA Team must take it."
        in messages_of(response)
    )
    backup.refresh_from_db()
    assert backup.assignee is None


# --- submit ---------------------------------------------------------------------------------


def test_proceed_moves_to_the_next_step(signed_in, sarah, waiting, backup, engine):
    client = signed_in(sarah)
    client.post(reverse("releases:interruption_take", args=[backup.pk]))
    with engine():
        response = client.post(
            reverse("releases:interruption_submit", args=[backup.pk]),
            {"result": "proceed", "notes": "backup-2026.bak, 4.2 GB"},
            follow=True,
        )
    assert "Proceeded with Backup the database." in messages_of(response)
    html = response.content.decode()
    assert "Upgrade the database" in html
    assert "backup-2026.bak, 4.2 GB" in html
    nxt = Interruption.objects.get(deployment=waiting, pending=True)
    assert nxt.title == "Upgrade the database"
    assert waiting.log_entries.filter(message="Notes: backup-2026.bak, 4.2 GB").exists()


def test_proceed_from_my_tasks_returns_to_my_tasks(signed_in, sarah, backup, engine):
    client = signed_in(sarah)
    interruption_take(interruption=backup, actor=sarah)
    with engine():
        response = client.post(
            reverse("releases:interruption_submit", args=[backup.pk]),
            {"result": "proceed", "next": reverse("releases:interruption_list")},
        )
    assert response["Location"] == reverse("releases:interruption_list")


def test_next_must_be_on_this_site(signed_in, sarah, waiting, backup, engine):
    interruption_take(interruption=backup, actor=sarah)
    with engine():
        response = signed_in(sarah).post(
            reverse("releases:interruption_submit", args=[backup.pk]),
            {"result": "proceed", "next": "https://evil.example/"},
        )
    assert response["Location"] == waiting.get_absolute_url()


def test_submit_refused_when_someone_else_holds_it(signed_in, sarah, dora, backup):
    interruption_take(interruption=backup, actor=sarah)
    response = signed_in(dora).post(
        reverse("releases:interruption_submit", args=[backup.pk]), {"result": "proceed"}, follow=True
    )
    assert (
        "Backup the database is assigned to Sarah; only they may submit it. Take it over first."
        in messages_of(response)
    )
    backup.refresh_from_db()
    assert backup.pending


def test_submit_refused_for_member_of_other_team(signed_in, olly, backup):
    response = signed_in(olly).post(
        reverse("releases:interruption_submit", args=[backup.pk]), {"result": "proceed"}, follow=True
    )
    assert "Only members of DBA Team may take this step." in messages_of(response)
    backup.refresh_from_db()
    assert backup.pending and backup.assignee is None


def test_abort_asks_for_confirmation_first(signed_in, sarah, waiting, backup):
    interruption_take(interruption=backup, actor=sarah)
    client = signed_in(sarah)
    response = client.post(
        reverse("releases:interruption_submit", args=[backup.pk]), {"result": "abort", "notes": "disk full"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Abort “Backup the database”?" in html
    assert 'name="confirmed" value="1"' in html
    assert 'name="notes" value="disk full"' in html
    backup.refresh_from_db()
    assert backup.pending


def test_abort_without_confirmation_over_htmx_changes_nothing(signed_in, sarah, backup):
    interruption_take(interruption=backup, actor=sarah)
    response = signed_in(sarah).post(
        reverse("releases:interruption_submit", args=[backup.pk]),
        {"result": "abort"},
        headers={"HX-Request": "true", "HX-Target": "deployment-live"},
    )
    assert "Confirm that you want to abort Backup the database first." in response.content.decode()
    backup.refresh_from_db()
    assert backup.pending


def test_confirmed_abort_fails_the_deployment(signed_in, sarah, waiting, backup, engine):
    interruption_take(interruption=backup, actor=sarah)
    with engine():
        response = signed_in(sarah).post(
            reverse("releases:interruption_submit", args=[backup.pk]),
            {"result": "abort", "notes": "disk full", "confirmed": "1"},
            follow=True,
        )
    assert "Aborted Backup the database." in messages_of(response)
    waiting.refresh_from_db()
    assert waiting.state == DeploymentState.FAILED
    assert waiting.steps.get(position=1).state == StepState.ABORTED


def test_unknown_answer_is_refused(signed_in, sarah, backup):
    interruption_take(interruption=backup, actor=sarah)
    response = signed_in(sarah).post(
        reverse("releases:interruption_submit", args=[backup.pk]), {"result": "maybe"}, follow=True
    )
    assert 'A manual intervention is answered with result "proceed" or "abort".' in messages_of(response)


def test_oversized_notes_are_refused(signed_in, sarah, backup, settings):
    interruption_take(interruption=backup, actor=sarah)
    response = signed_in(sarah).post(
        reverse("releases:interruption_submit", args=[backup.pk]),
        {"result": "proceed", "notes": "x" * (settings.RELMAN_NOTES_MAX_LENGTH + 1)},
        follow=True,
    )
    assert any(m.startswith("Notes are limited to 20,000 characters") for m in messages_of(response))
    backup.refresh_from_db()
    assert backup.pending


def test_guided_failure_offers_retry_ignore_fail(signed_in, root, goodhealth, engine):
    from processes.models import Step

    Step.objects.filter(project=goodhealth.project, name="Build check").update(script="echo broken; exit 3")
    project = goodhealth.project
    project.guided_failure = True
    project.save(update_fields=["guided_failure"])
    from releases.services import deployment_create, release_create

    with engine():
        release = release_create(project=project, version="3.0.0", actor=root)
        deployment = deployment_create(release=release, environment=goodhealth.environments[0], actor=root)
    interruption = Interruption.objects.get(deployment=deployment, pending=True)
    assert interruption.type == "guided_failure"
    admin_ops = goodhealth.users["admin-ops"]
    client = signed_in(admin_ops)
    interruption_take(interruption=interruption, actor=admin_ops)
    html = client.get(deployment.get_absolute_url()).content.decode()
    for value in ("retry", "ignore", "fail"):
        assert f'name="guidance" value="{value}"' in html
    with engine():
        response = client.post(
            reverse("releases:interruption_submit", args=[interruption.pk]),
            {"guidance": "ignore"},
            follow=True,
        )
    assert "Ignored the failure of Build check." in messages_of(response)


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_asks_for_confirmation_then_cancels(signed_in, sarah, waiting, engine):
    client = signed_in(sarah)
    url = reverse("releases:deployment_cancel", args=[waiting.pk])
    page = client.get(url)
    assert "Cancel the deployment of 1.0.0 to Manual Test?" in page.content.decode()
    response = client.post(url)
    assert 'name="confirmed" value="1"' in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.state == DeploymentState.WAITING
    with engine():
        response = client.post(url, {"confirmed": "1"}, follow=True)
    assert "The deployment is cancelled." in messages_of(response)
    waiting.refresh_from_db()
    assert waiting.state == DeploymentState.CANCELLED


def test_cancel_refused_for_a_viewer(signed_in, vera, waiting):
    response = signed_in(vera).post(
        reverse("releases:deployment_cancel", args=[waiting.pk]), {"confirmed": "1"}, follow=True
    )
    assert "You need the deployer role on Manual Deployment in Manual Test to cancel." in messages_of(
        response
    )
    waiting.refresh_from_db()
    assert waiting.state == DeploymentState.WAITING


def test_cancel_is_404_for_an_outsider(signed_in, oscar, waiting):
    url = reverse("releases:deployment_cancel", args=[waiting.pk])
    assert signed_in(oscar).post(url, {"confirmed": "1"}).status_code == 404


# --- deploy ---------------------------------------------------------------------------------


def test_deploy_review_then_deploy(signed_in, sarah, octopus, root, engine):
    from releases.services import release_create

    release = release_create(project=octopus.project, version="2.0.0", actor=root)
    client = signed_in(sarah)
    url = reverse("releases:deployment_create", args=[release.pk])
    review = client.get(url, {"environment": "manual-test"}).content.decode()
    assert "Deploy Manual Deployment 2.0.0 to Manual Test" in review
    assert "Backup the database" in review and "by DBA Team" in review
    assert not Deployment.objects.filter(release=release).exists()
    with engine():
        response = client.post(url + "?environment=manual-test", {"environment": "manual-test"})
    deployment = Deployment.objects.get(release=release)
    assert response["Location"] == deployment.get_absolute_url()
    assert deployment.created_by == sarah
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.WAITING


def test_deploy_refused_by_the_lifecycle(signed_in, sarah, octopus, root):
    from releases.services import release_create

    release = release_create(project=octopus.project, version="2.0.0", actor=root)
    client = signed_in(sarah)
    url = reverse("releases:deployment_create", args=[release.pk])
    review = client.get(url, {"environment": "manual-live"}).content.decode()
    assert "Release 2.0.0 of Manual Deployment must first be deployed to Manual Test (phase Test)." in review
    assert 'type="submit" class="button button--primary">Deploy<' not in review
    response = client.post(url, {"environment": "manual-live"}, follow=True)
    assert (
        "Release 2.0.0 of Manual Deployment must first be deployed to Manual Test (phase Test)."
        in messages_of(response)
    )
    assert not Deployment.objects.filter(release=release).exists()


def test_deploy_refused_for_a_viewer(signed_in, vera, octopus, root):
    from releases.services import release_create

    release = release_create(project=octopus.project, version="2.0.0", actor=root)
    response = signed_in(vera).post(
        reverse("releases:deployment_create", args=[release.pk]), {"environment": "manual-test"}, follow=True
    )
    assert "You need the deployer role on Manual Deployment in Manual Test to deploy there." in messages_of(
        response
    )
    assert not Deployment.objects.filter(release=release).exists()


def test_deploy_unknown_environment_is_404(signed_in, sarah, waiting):
    url = reverse("releases:deployment_create", args=[waiting.release.pk])
    assert signed_in(sarah).post(url, {"environment": "nowhere"}).status_code == 404


def test_deploy_is_404_for_an_outsider(signed_in, oscar, waiting):
    url = reverse("releases:deployment_create", args=[waiting.release.pk])
    assert signed_in(oscar).post(url, {"environment": "manual-test"}).status_code == 404


# --- create release -------------------------------------------------------------------------


def test_create_release(signed_in, root, octopus):
    response = signed_in(root).post(
        octopus.project.get_absolute_url(), {"version": "4.1.0", "notes": "Fixes *everything*."}
    )
    release = Release.objects.get(project=octopus.project, version="4.1.0")
    assert response["Location"] == release.get_absolute_url()
    assert release.notes == "Fixes *everything*."
    assert release.created_by == root


def test_create_release_refused_for_a_deployer(signed_in, sarah, octopus):
    response = signed_in(sarah).post(octopus.project.get_absolute_url(), {"version": "4.1.0"})
    assert response.status_code == 400
    assert "You need the release creator role on Manual Deployment to create releases." in messages_of(
        response
    )
    assert not Release.objects.filter(version="4.1.0").exists()


def test_create_release_refuses_a_duplicate_version(signed_in, root, waiting):
    response = signed_in(root).post(
        waiting.project.get_absolute_url(), {"version": "1.0.0", "notes": "again"}
    )
    assert response.status_code == 400
    assert "Manual Deployment already has a release 1.0.0; choose another version." in messages_of(response)
    assert "again</textarea>" in response.content.decode()  # what was typed is kept


def test_create_release_is_404_for_an_outsider(signed_in, oscar, octopus):
    assert signed_in(oscar).post(octopus.project.get_absolute_url(), {"version": "9.9.9"}).status_code == 404
