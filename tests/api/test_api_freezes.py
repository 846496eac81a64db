"""SPEC §14 over the API: freezes (superuser), scheduled and frozen deployments, answers."""

from datetime import timedelta

from django.utils import timezone

from processes.models import Step
from releases.models import Interruption
from releases.services import deployment_create, release_create

FREEZES = "/api/v1/freezes/"


def freeze_body(**fields):
    now = timezone.now()
    return {
        "name": "Holidays",
        "reason": "Nobody on call",
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(days=1)).isoformat(),
        "environments": ["manual-test"],
        **fields,
    }


def test_freezes_are_for_superusers_and_an_end_before_the_start_is_400(api, root, sarah, octopus):
    assert api(sarah).get(FREEZES).status_code == 403
    assert api(sarah).post(FREEZES, freeze_body(), format="json").status_code == 403
    now = timezone.now()
    bad = api(root).post(FREEZES, freeze_body(end=(now - timedelta(days=1)).isoformat()), format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_period"
    created = api(root).post(FREEZES, freeze_body(), format="json")
    assert created.status_code == 201, created.json()
    url = f"{FREEZES}{created.json()['id']}/"
    assert api(root).patch(url, {"name": "Xmas"}, format="json").json()["name"] == "Xmas"
    assert api(root).delete(url).status_code == 204


def test_deploying_during_a_freeze_is_409_frozen_unless_a_superuser_overrides(api, root, sarah, octopus):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    api(root).post(FREEZES, freeze_body(), format="json")
    url = f"/api/v1/releases/{release.pk}/deployments/"
    refused = api(sarah).post(url, {"environment": "manual-test"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "frozen"
    assert "Holidays" in refused.json()["detail"]
    assert (
        api(sarah)
        .post(url, {"environment": "manual-test", "override_freeze": True, "reason": "x"}, format="json")
        .status_code
        == 403
    )
    through = api(root).post(
        url, {"environment": "manual-test", "override_freeze": True, "reason": "Security fix"}, format="json"
    )
    assert through.status_code == 201


def test_a_scheduled_deployment_over_the_api(api, root, octopus):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    url = f"/api/v1/releases/{release.pk}/deployments/"
    past = api(root).post(
        url, {"environment": "manual-test", "queue_at": "2001-01-01T00:00:00Z"}, format="json"
    )
    assert past.status_code == 400 and past.json()["code"] == "queue_at_past"
    queue_at = timezone.now() + timedelta(hours=3)
    body = (
        api(root)
        .post(url, {"environment": "manual-test", "queue_at": queue_at.isoformat()}, format="json")
        .json()
    )
    assert body["state"] == "queued" and body["queue_at"].startswith(queue_at.strftime("%Y-%m-%dT%H:%M"))


def test_the_interruption_detail_lists_each_answer(api, root, sarah, octopus, engine):
    from teams.models import User

    dave = User.objects.create_user("dave", display_name="Dave")
    dave.teams.add(sarah.teams.get())
    Step.objects.filter(project=octopus.project, position=1).update(required_approvals=2)
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    with engine():
        deployment_create(release=release, environment=octopus.environments[0], actor=root)
    interruption = Interruption.objects.get(pending=True)
    url = f"/api/v1/interruptions/{interruption.pk}/"
    first = api(sarah).post(f"{url}submit/", {"result": "proceed", "notes": "ok"}, format="json")
    assert first.status_code == 200
    assert first.json()["required_approvals"] == 2 and first.json()["pending"] is True
    assert first.json()["can_take"] is False
    [approval] = first.json()["approvals"]
    assert (approval["user"], approval["result"], approval["notes"]) == ("sarah", "proceed", "ok")
    again = api(sarah).post(f"{url}submit/", {"result": "proceed"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_answered"
