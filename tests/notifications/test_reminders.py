"""Reminders come from a due time the sweep reads, on a frozen clock: after the step's
``remind_after_minutes``, again after as long, at most RELMAN_REMINDER_LIMIT times, and
never once the step was answered."""

import pytest

from notifications.models import Event
from releases.engine import deployments_sweep
from releases.models import Interruption
from releases.services import deployment_create, interruption_submit, release_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(octopus, root, engine, clock, settings, smtp):
    settings.RELMAN_REMINDER_LIMIT = 2
    octopus.project.steps.filter(position__in=[1, 2]).update(remind_after_minutes=30)
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    with engine():
        return deployment_create(release=release, environment=octopus.environments[0], actor=root)


def sweep_at(clock, engine, minutes: int) -> list[str]:
    clock.advance(minutes=minutes)
    with engine():
        deployments_sweep()
    reminders = Event.objects.filter(kind="interruption.reminder").order_by("id")
    return list(reminders.values_list("payload__reminder", flat=True))


def test_reminders_come_at_their_due_times_up_to_the_limit(waiting, clock, engine, smtp):
    assert sweep_at(clock, engine, 29) == []
    assert sweep_at(clock, engine, 1) == [1]
    assert sweep_at(clock, engine, 29) == [1]
    assert sweep_at(clock, engine, 1) == [1, 2]
    assert sweep_at(clock, engine, 600) == [1, 2]  # the limit
    assert Interruption.objects.get(pending=True).remind_at is None
    subjects = [m["Subject"].strip() for m in smtp.messages]
    assert subjects == [
        "A manual task requires your attention: Backup the database — Manual Deployment 1.0.0 to Manual Test",
        *[
            "Reminder: A manual task requires your attention: Backup the database"
            " — Manual Deployment 1.0.0 to Manual Test"
        ]
        * 2,
    ]


def test_an_answered_step_is_not_reminded_and_the_next_step_has_its_own_clock(
    waiting, clock, engine, sarah, smtp
):
    clock.advance(minutes=20)
    with engine():
        interruption_submit(
            interruption=Interruption.objects.get(pending=True), actor=sarah, result="proceed"
        )
    assert sweep_at(clock, engine, 15) == []  # 35 minutes after step 1 was raised
    assert sweep_at(clock, engine, 15) == [1]  # 30 minutes after step 2 was
    assert Event.objects.get(kind="interruption.reminder").payload["step"] == "Upgrade the database"
