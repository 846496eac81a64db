"""Who is mailed when a step waits: the people who may take it, as
``releases.permissions.take_refusal`` says (tests/notifications/test_email.py holds the
two to the same answers), less those who turned mail off on /me/."""

from __future__ import annotations

from notifications.models import Event
from teams.models import User
from teams.permissions import can_deploy, can_view_environment_of


def interruption_recipients(event: Event) -> list[User]:
    """Members of the step's responsible teams who can see the project in the environment;
    with no responsible team, the deployers in scope (team members whose grants let them
    deploy there). Never the deployment's creator when the step prevents self-approval;
    never a disabled account, one without an address, or one that opted out."""
    payload = event.payload
    people = User.objects.filter(is_active=True).exclude(email="").exclude(email_preference__enabled=False)
    if payload["team_ids"]:
        people = people.filter(teams__in=payload["team_ids"])
        may_take = can_view_environment_of
    else:
        people = people.filter(teams__roles__isnull=False)
        may_take = can_deploy
    if payload["prevent_self_approval"] and payload["created_by_id"]:
        people = people.exclude(pk=payload["created_by_id"])
    return [
        person
        for person in people.distinct().order_by("username")
        if may_take(person, event.project, event.environment)
    ]
