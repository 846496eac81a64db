"""Deploy and cancel are one verb whatever asks for them: the page, the API, the admin and
the system's own tasks all go through the same service or engine verb, so each writes the
same audit event and the same task-log lines."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from processes.choices import StepKind
from releases.choices import DeploymentState
from releases.models import Deployment
from releases.services import deployment_create, release_create
from teams.models import AuditEvent
from teams.services import api_key_create


@pytest.fixture
def release(octopus, root):
    return release_create(project=octopus.project, version="1.0.0", actor=root)


def api_as(user) -> APIClient:
    client = APIClient()
    _, key = api_key_create(user=user, purpose="tests", actor=None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def created_event(deployment: Deployment) -> tuple:
    event = AuditEvent.objects.get(action="deployment.created", subject_id=str(deployment.pk))
    return event.actor_label, event.changes, event.project_label, event.environment_label


# --- deploy ---------------------------------------------------------------------------------


def test_deploy_from_the_page_and_the_api_write_the_same_event(client, octopus, sarah, release):
    test = octopus.environments[0]
    client.force_login(sarah)
    response = client.post(
        reverse("releases:deployment_create", args=[release.pk]), {"environment": test.slug}
    )
    assert response.status_code == 302
    from_page = Deployment.objects.get()

    response = api_as(sarah).post(
        f"/api/v1/releases/{release.pk}/deployments/", {"environment": test.slug}, format="json"
    )
    assert response.status_code == 201, response.json()
    from_api = Deployment.objects.get(pk=response.json()["id"])

    expected = ("sarah", {"release": "1.0.0", "guided_failure": False}, "Manual Deployment", "Manual Test")
    assert created_event(from_page) == created_event(from_api) == expected
    for deployment in (from_page, from_api):
        first = deployment.log_entries.order_by("id").first().message
        assert first == "Queued by Sarah: Manual Deployment 1.0.0 to Manual Test."


def test_deploy_refusal_is_the_same_sentence_on_the_page_and_in_the_api(client, octopus, sarah, release):
    live = octopus.environments[1]
    sentence = "Release 1.0.0 of Manual Deployment must first be deployed to Manual Test (phase Test)."
    client.force_login(sarah)
    page = client.get(reverse("releases:deployment_create", args=[release.pk]), {"environment": live.slug})
    assert sentence in page.content.decode()
    response = api_as(sarah).post(
        f"/api/v1/releases/{release.pk}/deployments/", {"environment": live.slug}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == {"detail": sentence, "code": "lifecycle"}
    progression = api_as(sarah).get(f"/api/v1/releases/{release.pk}/").json()["progression"]
    assert [row["reason"] for row in progression if row["environment"] == live.slug] == [sentence]
    assert not Deployment.objects.exists()


def test_a_lifecycles_automatic_deployment_writes_the_event_a_person_s_deploy_does(goodhealth, root, engine):
    """Integration's success opens Testing, which is automatic: the worker's task queues it
    through the engine as the system, recorded like a person's deploy but by "system"."""
    goodhealth.project.steps.filter(kind=StepKind.MANUAL).delete()
    integration, testing, _ = goodhealth.environments
    with engine():
        release = release_create(project=goodhealth.project, version="4.0.0", actor=root)
        by_person = deployment_create(release=release, environment=integration, actor=root)
    automatic = Deployment.objects.get(release=release, environment=testing)
    assert automatic.created_by is None
    assert created_event(by_person)[1:] == (
        {"release": "4.0.0", "guided_failure": False},
        "GoodHealth",
        "Integration",
    )
    assert created_event(automatic) == (
        "system",
        {"release": "4.0.0", "guided_failure": False},
        "GoodHealth",
        "Testing",
    )
    first = automatic.log_entries.order_by("id").first().message
    assert first == "Queued by System (lifecycle automatic deployment): GoodHealth 4.0.0 to Testing."


def test_no_automatic_deployment_for_a_disabled_project(goodhealth, root, engine):
    goodhealth.project.steps.filter(kind=StepKind.MANUAL).delete()
    integration, testing, _ = goodhealth.environments
    with engine():
        release = release_create(project=goodhealth.project, version="4.1.0", actor=root)
        deployment = deployment_create(release=release, environment=integration, actor=root)
        type(goodhealth.project).objects.filter(pk=goodhealth.project.pk).update(disabled=True)
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.SUCCESS
    assert not Deployment.objects.filter(environment=testing).exists()
    last = deployment.log_entries.order_by("id").last()
    assert (last.level, last.message) == (
        "warning",
        "Not deployed automatically to Testing: GoodHealth is disabled; enable it before deploying.",
    )


# --- cancel ---------------------------------------------------------------------------------


@pytest.fixture
def three_waiting(octopus, root, release, engine) -> list[Deployment]:
    """Three deployments of the release to Manual Test, the first waiting on its first step
    (which blocks nothing), the others queued or waiting behind it."""
    with engine():
        return [
            deployment_create(release=release, environment=octopus.environments[0], actor=root)
            for _ in range(3)
        ]


def cancelled_event(deployment: Deployment) -> tuple:
    event = AuditEvent.objects.get(action="deployment.cancelled", subject_id=str(deployment.pk))
    return event.actor_label, event.changes


def test_cancel_from_the_page_the_api_and_the_admin_write_the_same_event(client, root, three_waiting):
    page_one, api_one, admin_one = three_waiting
    states = {d.pk: Deployment.objects.get(pk=d.pk).state for d in three_waiting}
    client.force_login(root)

    response = client.post(reverse("releases:deployment_cancel", args=[page_one.pk]), {"confirmed": "1"})
    assert response.status_code == 302
    response = api_as(root).post(f"/api/v1/deployments/{api_one.pk}/cancel/")
    assert response.status_code == 200
    response = client.post(
        reverse("admin:releases_deployment_changelist"),
        {"action": "cancel_deployments", "_selected_action": [admin_one.pk]},
    )
    assert response.status_code == 302

    for deployment in three_waiting:
        deployment.refresh_from_db()
        assert deployment.state == DeploymentState.CANCELLED
        assert cancelled_event(deployment) == ("root", {"state": [states[deployment.pk], "cancelled"]})
        assert (
            deployment.log_entries.filter(message__startswith="Deployment cancelled by Root at ").count() == 1
        )


def test_the_admin_cancel_action_refuses_as_the_page_does(client, octopus, olly, three_waiting):
    """Olly may deploy to Manual Test: give him staff access but take away his deployer role
    there, and the admin refuses him with the sentence the page would show."""
    olly.is_staff = True
    olly.save(update_fields=["is_staff"])
    for grant in olly.teams.get().roles.all():
        grant.environments.set([octopus.environments[1]])
    olly.user_permissions.add(Permission.objects.get(codename="view_deployment"))
    client.force_login(olly)
    target = three_waiting[0]
    response = client.post(
        reverse("admin:releases_deployment_changelist"),
        {"action": "cancel_deployments", "_selected_action": [target.pk]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert (
        f"Deployment {target.pk}: You need the deployer role on Manual Deployment in Manual Test to cancel."
        in messages
    )
    target.refresh_from_db()
    assert target.state != DeploymentState.CANCELLED
    assert not AuditEvent.objects.filter(action="deployment.cancelled").exists()
