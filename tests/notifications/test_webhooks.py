"""Webhooks through a real HTTP receiver: signed bodies, retries with backoff on a frozen
clock, one delivery whatever the number of attempts, and nothing sent after a 2xx."""

import json
from datetime import timedelta

import pytest

from notifications import outbox
from notifications.choices import MAX_ATTEMPTS, RETRY_DELAYS, DeliveryState
from notifications.models import Attempt, Delivery, Event
from notifications.services import delivery_redeliver, webhook_create, webhook_send_test
from releases.models import Deployment
from releases.services import deployment_cancel, deployment_create, release_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(receiver, root):
    webhook, secret = webhook_create(
        name="Ops receiver", url=receiver.url, events=["interruption.raised"], actor=root
    )
    webhook.plain_secret = secret
    return webhook


def deploy(octopus, root, engine, environment=0):
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    with engine():
        return deployment_create(release=release, environment=octopus.environments[environment], actor=root)


def test_a_failed_first_attempt_is_retried_after_its_backoff_then_delivered_once(
    receiver, hook, octopus, root, engine, clock
):
    receiver.answers = [500, 200]
    deployment = deploy(octopus, root, engine)
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.due_at) == ("pending", 1, clock.now + RETRY_DELAYS[0])

    clock.advance(seconds=29)
    with engine():
        assert outbox.sweep()["sent"] == 0
    clock.advance(seconds=1)
    with engine():
        assert outbox.sweep()["sent"] == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.due_at) == ("delivered", 2, None)
    assert [(a.status_code, a.succeeded) for a in delivery.attempt_rows.all()] == [(500, False), (200, True)]

    clock.advance(hours=12)
    with engine():
        assert outbox.sweep()["sent"] == 0
        assert outbox.send(delivery.pk) is None
    assert len(receiver.requests) == 2

    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["X-Relman-Delivery"] == second.headers["X-Relman-Delivery"] == str(delivery.uuid)
    assert second.headers["X-Relman-Event"] == "interruption.raised"
    assert receiver.verify(hook.plain_secret, second)
    assert not receiver.verify("another secret", second)
    body = json.loads(second.body)
    assert body == {
        "id": str(delivery.uuid),
        "event": "interruption.raised",
        "timestamp": body["timestamp"],
        "project": "Manual Deployment",
        "release": "1.0.0",
        "environment": "Manual Test",
        "deployment": deployment.pk,
        "url": f"http://127.0.0.1:8000/deployments/{deployment.pk}/",
        "step": "Backup the database",
        "responsible_teams": ["DBA Team"],
    }


def test_a_receiver_that_never_answers_times_out_backs_off_and_fails(
    receiver, hook, octopus, root, engine, clock, settings, client
):
    settings.RELMAN_NOTIFICATION_TIMEOUT_SECONDS = 0.3
    receiver.answers = ["silent"]
    deploy(octopus, root, engine)
    delivery = Delivery.objects.get()
    for delay in RETRY_DELAYS:
        assert delivery.due_at == clock.now + delay
        clock.advance(seconds=delay.total_seconds())
        with engine():
            outbox.sweep()
        delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.due_at) == ("failed", MAX_ATTEMPTS, None)
    attempts = list(delivery.attempt_rows.all())
    assert len(attempts) == MAX_ATTEMPTS == len(receiver.requests)
    assert all("timed out" in a.error.lower() and a.status_code is None for a in attempts)
    settings.RELMAN_METRICS_TOKEN = "t" * 32
    figures = client.get("/metrics", headers={"Authorization": f"Bearer {'t' * 32}"}).content.decode()
    assert 'relman_notification_deliveries{channel="webhook",state="failed"} 1.0' in figures


def test_a_3_mb_answer_is_read_to_at_most_64_kib(receiver, hook, octopus, root, engine):
    receiver.answers = [("big", 200)]
    deploy(octopus, root, engine)
    attempt = Delivery.objects.get().attempt_rows.get()
    assert attempt.succeeded and attempt.status_code == 200
    assert len(attempt.response) == 1000


def test_slack_format_and_the_project_and_environment_filters(receiver, root, octopus, goodhealth, engine):
    webhook_create(name="Slack", url=receiver.url, format="slack", projects=[octopus.project], actor=root)
    webhook_create(name="Elsewhere", url=receiver.url, projects=[goodhealth.project], actor=root)
    webhook_create(name="Live only", url=receiver.url, environments=[octopus.environments[1]], actor=root)
    deployment = deploy(octopus, root, engine)
    with engine():
        deployment_cancel(deployment=deployment, actor=root)
    assert Delivery.objects.filter(webhook__name="Slack").count() == 2  # raised, cancelled
    assert not Delivery.objects.exclude(webhook__name="Slack").exists()
    raised = json.loads(receiver.requests[0].body)
    assert list(raised) == ["text"]
    assert (
        "*Backup the database* waits for DBA Team — Manual Deployment 1.0.0 to Manual Test" in raised["text"]
    )
    assert receiver.requests[1].headers["X-Relman-Event"] == "deployment.cancelled"


def test_send_test_and_redeliver_make_new_deliveries(receiver, hook, root, engine):
    with engine():
        test = webhook_send_test(webhook=hook, actor=root)
    test.refresh_from_db()
    assert test.state == DeliveryState.DELIVERED
    assert receiver.requests[0].headers["X-Relman-Event"] == "webhook.test"
    with engine():
        again = delivery_redeliver(delivery=test, actor=root)
    again.refresh_from_db()
    assert again.state == DeliveryState.DELIVERED and again.uuid != test.uuid
    assert [r.headers["X-Relman-Delivery"] for r in receiver.requests] == [str(test.uuid), str(again.uuid)]


def test_a_lost_fan_out_message_is_recovered_by_the_sweep(
    receiver, hook, octopus, root, clock, engine, monkeypatch
):
    publish_after_commit = outbox.enqueue_on_commit
    monkeypatch.setattr(outbox, "enqueue_on_commit", lambda task, *args: None)  # a broker that lost it
    deploy(octopus, root, engine)
    monkeypatch.setattr(outbox, "enqueue_on_commit", publish_after_commit)
    assert not Delivery.objects.exists()
    with engine():
        assert outbox.sweep()["fanned_out"] == 0  # it may still be on its way
    clock.advance(seconds=outbox.FAN_OUT_GRACE.total_seconds() + 1)
    with engine():
        assert outbox.sweep()["fanned_out"] == 1
    assert Delivery.objects.get().state == DeliveryState.DELIVERED
    assert len(receiver.requests) == 1


def test_a_receiver_that_became_relman_itself_is_not_called(receiver, hook, octopus, root, engine, settings):
    """The check is made again before each attempt: a name checked when the webhook was
    saved may later resolve to Relman (here: Relman now serves on the receiver's address)."""
    settings.RELMAN_BASE_URL = receiver.url.removesuffix("/hook").replace("127.0.0.1", "localhost")
    deploy(octopus, root, engine)
    delivery = Delivery.objects.get()
    attempt = delivery.attempt_rows.get()
    assert not attempt.succeeded
    assert attempt.error == "Not sent: A webhook URL cannot point at this Relman server itself."
    assert receiver.requests == []


def test_events_past_their_retention_are_purged_once_nothing_is_pending(
    receiver, hook, octopus, root, engine, clock, settings
):
    settings.RELMAN_NOTIFICATION_RETENTION_DAYS = 90
    deploy(octopus, root, engine)  # its step's event, delivered at once
    day_0 = Event.objects.count()
    Event.objects.update(created_at=clock.now)
    clock.advance(days=1)
    with engine():
        deployment_cancel(deployment=Deployment.objects.get(), actor=root)
        again = release_create(project=octopus.project, version="2.0.0", actor=root)
        deployment_create(release=again, environment=octopus.environments[0], actor=root)
    Event.objects.filter(id__gt=Event.objects.order_by("id")[day_0 - 1].id).update(created_at=clock.now)
    delivered, waiting = Delivery.objects.order_by("id")
    assert delivered.state == "delivered"
    # A receiver down for long: its delivery is still pending when its event is old.
    Delivery.objects.filter(pk=waiting.pk).update(state="pending", due_at=clock.now + timedelta(days=999))
    total = Event.objects.count()

    clock.advance(days=89)
    with engine():
        assert outbox.sweep()["purged"] == 0  # not 90 days old yet
    clock.advance(seconds=1)
    with engine():
        assert outbox.sweep()["purged"] == day_0
    assert not Delivery.objects.filter(pk=delivered.pk).exists()
    assert not Attempt.objects.filter(delivery_id=delivered.pk).exists()
    clock.advance(days=1)
    with engine():
        assert outbox.sweep()["purged"] == total - day_0 - 1  # all but the pending delivery's event
    assert Delivery.objects.get().pk == waiting.pk

    Delivery.objects.filter(pk=waiting.pk).update(state="failed", due_at=None)
    settings.RELMAN_NOTIFICATION_RETENTION_DAYS = 0
    with engine():
        assert outbox.sweep()["purged"] == 0  # 0: kept forever
    settings.RELMAN_NOTIFICATION_RETENTION_DAYS = 90
    with engine():
        assert outbox.sweep()["purged"] == 1
    assert not Event.objects.exists() and not Delivery.objects.exists()
