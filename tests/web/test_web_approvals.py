"""SPEC §14 on the pages: a quorum's approvals, Deploy later, freezes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from processes.models import Step
from releases.models import Deployment, Interruption
from releases.services import deployment_create, freeze_create, release_create
from teams.choices import Role
from teams.models import RoleGrant, Team, User


@pytest.fixture
def quorum(octopus, root, dora, engine):
    """A deployment waiting at "Backup the database", which needs 2 of sarah and dora."""
    Step.objects.filter(project=octopus.project, position=1).update(required_approvals=2, timeout_minutes=30)
    with engine():
        release = release_create(project=octopus.project, version="2.0.0", actor=root)
        deployment = deployment_create(release=release, environment=octopus.environments[0], actor=root)
    return Interruption.objects.get(deployment=deployment, pending=True)


def test_each_eligible_person_approves_on_the_deployment_page(signed_in, sarah, dora, olly, quorum, engine):
    page = reverse("releases:deployment_detail", args=[quorum.deployment_id])
    html = signed_in(sarah).get(page).content.decode()
    assert "0 of 2 approvals" in html and ">Approve</button>" in html and "Assign to me" not in html
    assert "The system will abort in" in html and "data-counts-down-to=" in html
    with engine():
        response = signed_in(sarah).post(
            reverse("releases:interruption_submit", args=[quorum.pk]),
            {"result": "proceed", "notes": "Backup OK"},
        )
    assert response.status_code == 302
    html = signed_in(sarah).get(page).content.decode()
    assert (
        "1 of 2 approvals" in html and "Backup OK" in html and "You answered <strong>Approve</strong>" in html
    )
    assert ">Approve</button>" not in html
    assert ">Approve</button>" in signed_in(dora).get(page).content.decode()
    assert "Only members of DBA Team" in signed_in(olly).get(page).content.decode()
    tasks = signed_in(dora).get(reverse("releases:interruption_list")).content.decode()
    assert "1 of 2 approvals" in tasks


def test_deploy_later_is_read_in_the_browsers_time_zone_and_stored_in_utc(signed_in, root, octopus):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    url = reverse("releases:deployment_create", args=[release.pk])
    html = signed_in(root).get(f"{url}?environment=manual-test").content.decode()
    assert 'type="datetime-local"' in html and "data-browser-time-zone" in html
    local = (timezone.now() + timedelta(days=2)).astimezone(UTC).replace(tzinfo=None, second=0, microsecond=0)
    response = signed_in(root).post(
        url,
        {
            "environment": "manual-test",
            "queue_at": local.strftime("%Y-%m-%dT%H:%M"),
            "time_zone": "Asia/Tokyo",
        },
    )
    deployment = Deployment.objects.get()
    assert response.status_code == 302 and response.url == deployment.get_absolute_url()
    assert deployment.queue_at == local.replace(tzinfo=UTC) - timedelta(hours=9)
    html = signed_in(root).get(deployment.get_absolute_url()).content.decode()
    assert "Scheduled for" in html and "cancel it before then" in html
    dashboard = signed_in(root).get(reverse("dashboard"), headers={"HX-Request": "true"}).content.decode()
    assert ">starts " in dashboard


def test_a_freeze_shows_on_the_deploy_page_dashboard_and_freezes_page(
    signed_in, root, sarah, octopus, goodhealth, django_assert_max_num_queries
):
    now = timezone.now()
    freeze_create(
        name="Holidays",
        start=now - timedelta(hours=1),
        end=datetime(2099, 1, 1, tzinfo=UTC),
        environments=[octopus.environments[0]],
        actor=root,
    )
    freeze_create(
        name="GoodHealth audit",
        start=now,
        end=now + timedelta(days=1),
        environments=[goodhealth.environments[0]],
        projects=[goodhealth.project],
        actor=root,
    )
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deploy = f"{reverse('releases:deployment_create', args=[release.pk])}?environment=manual-test"
    html = signed_in(sarah).get(deploy).content.decode()
    assert "frozen by Holidays until 2099-01-01 00:00 UTC" in html
    assert "Deploy now" not in html and "Deploy through the freeze" not in html and "Deploy later" in html
    assert "Deploy through the freeze" in signed_in(root).get(deploy).content.decode()

    pia = User.objects.create_user("pia", display_name="Pia")  # sees Manual Deployment only
    team = Team.objects.create(name="Manual Viewers")
    team.members.add(pia)
    RoleGrant.objects.create(team=team, role=Role.VIEWER).projects.add(octopus.project)
    dashboard = signed_in(pia).get(reverse("dashboard"), headers={"HX-Request": "true"}).content.decode()
    assert dashboard.count("grid__cell--frozen") == 1
    assert 'aria-label="Frozen by Holidays until 2099-01-01 00:00 UTC"' in dashboard

    freezes = reverse("releases:freeze_list")
    assert "GoodHealth audit" in signed_in(root).get(freezes).content.decode()
    client = signed_in(pia)
    # The session, the user, their grants, the badge; then the visible projects and the
    # freezes with their environments and projects, whatever their number.
    with django_assert_max_num_queries(14):
        client.get(freezes)
    page = signed_in(pia).get(freezes).content.decode()
    assert "Holidays" in page and "GoodHealth audit" not in page
