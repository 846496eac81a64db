"""The /targets/ page: the targets of the environments a user may see, with their status."""

import pytest
from django.utils import timezone

from lifecycles.models import Environment
from targets.models import Target
from targets.services import target_create
from teams.choices import Role
from teams.models import RoleGrant, Team, User


@pytest.fixture
def targets(octopus):
    test, live = Environment.objects.get(slug="manual-test"), Environment.objects.get(slug="manual-live")
    for n in range(10):
        target_create(name=f"web-{n}", environments=[test, live], roles=["web", "app"], actor=None)
    target_create(name="db-live", environments=[live], roles=["db"], actor=None)
    Target.objects.filter(name="web-0").update(last_seen=timezone.now(), hostname="web-0.example.com")


def test_the_page_groups_targets_by_environment_in_few_queries(
    client, root, targets, django_assert_max_num_queries
):
    client.force_login(root)
    with django_assert_max_num_queries(8):
        response = client.get("/targets/")
    page = response.content.decode()
    assert page.count("db-live") == 1 and page.count(">web-3<") == 2
    assert page.count("Online") == 2 and "web-0.example.com" in page


def test_a_viewer_sees_only_the_targets_of_their_environments(client, targets):
    viewer = User.objects.create_user("lena", display_name="Lena")
    team = Team.objects.create(name="Test watchers")
    team.members.add(viewer)
    RoleGrant.objects.create(team=team, role=Role.VIEWER).environments.add(
        Environment.objects.get(slug="manual-test")
    )
    client.force_login(viewer)
    page = client.get("/targets/").content.decode()
    assert "web-3" in page and "db-live" not in page
