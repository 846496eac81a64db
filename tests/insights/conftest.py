"""A hand-made history of the Manual Deployment project, every figure computed by hand.

NOW is 30 June 2026 12:00 UTC; a 28-day window starts at SINCE, 2 June 12:00.

Releases created: R1 1 June 11:00, R2 3 June 08:00, R3 10 June 11:45.

Manual Test (deployments, release created → finished):
  D0  2 Jun 11:59:59  success  R1  — one second before the window: not counted
  D1  2 Jun 12:00:00  success  R1  finished 2 Jun 13:00   lead 26 h   = 93,600 s (on the edge: counted)
  D2  3 Jun 10:00     failed   R2  finished 3 Jun 11:00
  D3  3 Jun 11:30     cancelled R2 finished 3 Jun 11:40
  D4  3 Jun 12:00     success  R2  finished 3 Jun 13:00   lead 5 h    = 18,000 s
  D5 10 Jun 10:00     failed   R2  finished 10 Jun 10:30
  D6 10 Jun 11:00     failed   R2  finished 10 Jun 11:30
  D7 10 Jun 12:00     success  R3  finished 10 Jun 12:30  lead 45 min = 2,700 s
  D8 20 Jun 11:00     success  R3  finished 20 Jun 12:00  lead 10 d 15 min = 864,900 s
  → 8 deployments, 2.0 a week; leads 2,700 · 18,000 · 93,600 · 864,900 → median 55,800;
    failure rate 3 failed ÷ 7 (4 succeeded + 3 failed; a cancelled one is neither) = 0.4286;
    restores D2 → D4 across the cancelled D3 = 7,200, D5 → D7 = 7,200, D6 → D7 = 3,600
    → median 7,200.
Manual Live: nothing.

Steps, all in Manual Test (wait = raised → taken, work = taken → submitted):
  Backup the database: D1 60/30, D2 600/300, D4 120/90, and D5 raised, never taken
    → 4 runs, median wait 120 (odd count), median work 90, human 780 + 420 = 1,200.
  Upgrade the database: D1 100/10, D2 300/20 aborted
    → 2 runs, median wait 200 (even count), median work 15, 1 abort, human 430.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from releases.choices import DeploymentState, StepState
from relman.demo import PastStep, past_deployment, past_release

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
DAYS = 28
SINCE = NOW - timedelta(days=DAYS)
BACKUP = "Backup the database"
UPGRADE = "Upgrade the database"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, second, tzinfo=UTC)


def person(raised: datetime, wait: int, work: int | None, state: str = StepState.SUCCESS) -> PastStep:
    taken = raised + timedelta(seconds=wait)
    return PastStep(state, raised, taken, None if work is None else taken + timedelta(seconds=work))


@dataclass
class History:
    project: object
    test: object
    live: object


@pytest.fixture
def history(octopus) -> History:
    project, (test, live) = octopus.project, octopus.environments
    sarah = octopus.users["sarah"]
    r1 = past_release(project, "0.1.0", at(1, 11))
    r2 = past_release(project, "0.2.0", at(3, 8))
    r3 = past_release(project, "0.3.0", at(10, 11, 45))

    def deploy(release, state, created, finished, steps=None):
        past_deployment(
            release=release,
            environment=test,
            state=state,
            created_at=created,
            finished_at=finished,
            steps=steps or {},
            person=sarah,
        )

    success, failed = DeploymentState.SUCCESS, DeploymentState.FAILED
    deploy(r1, success, SINCE - timedelta(seconds=1), at(2, 12, 30), {BACKUP: person(at(2, 12), 5000, 5000)})
    deploy(
        r1,
        success,
        SINCE,
        at(2, 13),
        {BACKUP: person(at(2, 12, 1), 60, 30), UPGRADE: person(at(2, 12, 10), 100, 10)},
    )
    deploy(
        r2,
        failed,
        at(3, 10),
        at(3, 11),
        {BACKUP: person(at(3, 10), 600, 300), UPGRADE: person(at(3, 10, 20), 300, 20, StepState.ABORTED)},
    )
    deploy(r2, DeploymentState.CANCELLED, at(3, 11, 30), at(3, 11, 40))
    deploy(r2, success, at(3, 12), at(3, 13), {BACKUP: person(at(3, 12), 120, 90)})
    deploy(
        r2,
        failed,
        at(10, 10),
        at(10, 10, 30),
        {BACKUP: PastStep(StepState.WAITING, at(10, 10))},
    )
    deploy(r2, failed, at(10, 11), at(10, 11, 30))
    deploy(r3, success, at(10, 12), at(10, 12, 30))
    deploy(r3, success, at(20, 11), at(20, 12))
    return History(project=project, test=test, live=live)
