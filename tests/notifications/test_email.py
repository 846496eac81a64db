"""Mail about a step that waits: to the people who may take it, once each, through a real
SMTP server."""

import pytest

from notifications.choices import DeliveryState
from notifications.models import Delivery, Event
from notifications.recipients import interruption_recipients
from releases.models import Interruption
from releases.permissions import take_refusal
from releases.services import deployment_cancel, deployment_create, release_create
from teams.models import Team
from tests.notifications.conftest import free_port

pytestmark = pytest.mark.django_db

SUBJECT = (
    "A manual task requires your attention: Backup the database — Manual Deployment 1.0.0 to Manual Test"
)


def deploy(octopus, root, engine, version="1.0.0"):
    release = release_create(project=octopus.project, version=version, actor=root)
    with engine():
        return deployment_create(release=release, environment=octopus.environments[0], actor=root)


def first_step(octopus):
    return octopus.project.steps.get(position=1)


def test_a_step_that_waits_mails_its_team_with_text_html_instructions_and_link(smtp, octopus, root, engine):
    deployment = deploy(octopus, root, engine)
    assert smtp.recipients == ["sarah@example.com"]
    mail = smtp.messages[0]
    assert mail["Subject"].strip() == SUBJECT
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    link = f"https://relman.example.com/deployments/{deployment.pk}/"
    for part in (text, html):
        assert "Backup the database" in part
        assert "Take a full backup of the application database" in part
        assert "Root" in part  # who asked
        assert link in part
    assert Delivery.objects.get().state == DeliveryState.DELIVERED


def test_a_person_in_two_responsible_teams_gets_one_mail(smtp, octopus, root, sarah, engine):
    ops = Team.objects.get(name="Ops Team")
    ops.members.add(sarah)
    first_step(octopus).responsible_teams.add(ops)
    deploy(octopus, root, engine)
    assert smtp.recipients == ["olly@example.com", "sarah@example.com"]


def test_a_person_who_turned_mail_off_on_me_is_not_mailed(smtp, client, octopus, root, sarah, engine):
    client.force_login(sarah)
    assert client.post("/me/notifications/", {}).status_code == 302
    assert "Mail me" in client.get("/me/").content.decode()
    first = deploy(octopus, root, engine)
    assert smtp.messages == []
    client.post("/me/notifications/", {"enabled": "on"})
    with engine():
        deployment_cancel(deployment=first, actor=root)
    deploy(octopus, root, engine, version="1.0.1")
    assert smtp.recipients == ["sarah@example.com"]


def test_the_steps_notify_addresses_are_copied(smtp, octopus, root, engine):
    step = first_step(octopus)
    step.notify = ["dba-oncall@example.com", "SARAH@example.com"]
    step.save(update_fields=["notify"])
    deploy(octopus, root, engine)
    assert smtp.recipients == ["dba-oncall@example.com", "sarah@example.com"]
    assert smtp.to("dba-oncall@example.com")[0]["Subject"].strip() == SUBJECT


@pytest.mark.parametrize("teams", [True, False], ids=["responsible-team", "no-team"])
def test_the_people_mailed_are_those_who_may_take_the_step(
    smtp, octopus, root, sarah, olly, tina, vera, oscar, engine, teams
):
    """The recipients are exactly the people take_refusal lets take it (less opt-outs):
    the two rules are written in two apps and must not drift apart."""
    if not teams:
        first_step(octopus).responsible_teams.clear()
    for person in (vera, oscar):
        person.email = f"{person.username}@example.com"
        person.save(update_fields=["email"])
    deploy(octopus, root, engine)
    interruption = Interruption.objects.get(pending=True)
    event = Event.objects.get(kind="interruption.raised")
    mailed = {p.username for p in interruption_recipients(event)}
    may_take = {p.username for p in (sarah, olly, tina, vera, oscar) if take_refusal(p, interruption) is None}
    assert mailed == may_take == ({"sarah"} if teams else {"sarah", "olly", "tina"})


def test_an_unreachable_smtp_server_shows_as_failed_attempts_and_blocks_nothing(
    smtp, settings, octopus, root, engine
):
    settings.EMAIL_PORT = free_port()  # nothing listens there
    deployment = deploy(octopus, root, engine)
    deployment.refresh_from_db()
    assert deployment.state == "waiting"
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.PENDING
    attempt = delivery.attempt_rows.get()
    assert not attempt.succeeded and "Connection refused" in attempt.error
