"""A worker killed while it sends loses nothing: the delivery's lease runs out, the sweep
of a restarted worker sends it again, as the same delivery, and it is delivered once."""

import pytest
from django.conf import settings

from notifications.models import Delivery
from notifications.services import webhook_create
from releases.services import deployment_create, release_create

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_between_the_commit_and_the_answer_loses_nothing(
    octopus, root, workers, receiver, wait_for
):
    receiver.answers = ["silent", 200]
    webhook_create(name="Ops", url=receiver.url, events=["interruption.raised"], actor=root)
    # The worker reads the webhook's secret with the key it was encrypted with.
    workers.env["RELMAN_SECRET_KEY"] = settings.SECRET_KEY
    workers.env["RELMAN_NOTIFICATION_TIMEOUT_SECONDS"] = "2"
    first = workers.start()
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment_create(release=release, environment=octopus.environments[0], actor=root)

    wait_for(lambda: len(receiver.requests) == 1, timeout=60, what="the first attempt")
    workers.kill(first)
    assert Delivery.objects.get().attempts == 0  # the attempt never ended
    workers.start()

    wait_for(lambda: Delivery.objects.filter(state="delivered").exists(), timeout=60, what="the delivery")
    delivery = Delivery.objects.get()
    assert delivery.attempts == 1
    assert [r.headers["X-Relman-Delivery"] for r in receiver.requests] == [str(delivery.uuid)] * 2
