"""Lifecycle fixtures: six environments and a way to build a lifecycle's phases through
the service, read back as the progression rules read them (``lifecycle_phases``)."""

from types import SimpleNamespace

import pytest

from lifecycles.models import Phase
from lifecycles.progression import lifecycle_phases
from lifecycles.services import PhaseSpec, environment_create, lifecycle_create


@pytest.fixture
def envs(db) -> SimpleNamespace:
    """Dev, Test 1, Test 2, Test 3, Live (in that sort order) and Sandbox, which no
    lifecycle built here uses."""
    made = {
        key: environment_create(name=name, sort_order=order, actor=None)
        for order, (key, name) in enumerate(
            [
                ("dev", "Dev"),
                ("t1", "Test 1"),
                ("t2", "Test 2"),
                ("t3", "Test 3"),
                ("live", "Live"),
                ("sandbox", "Sandbox"),
            ],
            start=1,
        )
    }
    return SimpleNamespace(**made)


@pytest.fixture
def lifecycle_with(db):
    """``lifecycle_with(phase(...), ...)``: a new lifecycle "Shop Lifecycle" with these
    phases, returned as its phases with their environments, in order."""

    def build(*phases: PhaseSpec) -> list[Phase]:
        lifecycle = lifecycle_create(name="Shop Lifecycle", phases=phases, actor=None)
        return lifecycle_phases(lifecycle.pk)

    return build
