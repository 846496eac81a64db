"""seed_demo creates a superuser with a published password, so it refuses to run outside
debug mode unless told explicitly (SPEC §15)."""

import pytest
from django.core.management import CommandError, call_command

from teams.models import User


@pytest.mark.django_db
def test_seed_demo_refused_outside_debug_mode(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--i-know-this-is-production"):
        call_command("seed_demo", "--no-deploy")
    assert not User.objects.filter(username="admin").exists()


@pytest.mark.django_db
def test_seed_demo_runs_in_debug_mode(settings):
    settings.DEBUG = True
    call_command("seed_demo", "--no-deploy")
    assert User.objects.get(username="admin").is_superuser


@pytest.mark.django_db
def test_seed_demo_runs_outside_debug_mode_when_told(settings):
    settings.DEBUG = False
    call_command("seed_demo", "--no-deploy", "--i-know-this-is-production")
    assert User.objects.filter(username="admin").exists()
