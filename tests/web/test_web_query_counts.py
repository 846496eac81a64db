"""The dashboard and My tasks read a fixed number of rows sets, whatever the size of the
data: the same number of queries for 2 projects × 2 environments as for 30 × 10."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifecycles.models import Environment, Lifecycle, Phase, PhaseEnvironment
from processes.choices import DEFAULT_PROJECT_GROUP, StepKind
from processes.models import Project, ProjectGroup
from releases.choices import DeploymentState, InterruptionType, StepState
from releases.models import (
    DashboardPreference,
    Deployment,
    DeploymentStep,
    Interruption,
    Release,
    ReleaseStep,
)
from teams.choices import Role
from teams.models import RoleGrant, Team, User

pytestmark = pytest.mark.django_db

# 15: the dashboard reads the freezes applying now, My tasks the answers of a quorum;
# one query each, whatever the size of the data (test_small_and_large_...).
MAX_QUERIES = 15


def persona() -> User:
    """A deployer everywhere, member of the team every intervention below waits for."""
    user = User.objects.create_user("bulk", display_name="Bulk")
    team = Team.objects.create(name="Bulk Team")
    team.members.add(user)
    RoleGrant.objects.create(team=team, role=Role.DEPLOYER)
    return user


def build(user: User, projects: int, environments: int, prefix: str = "a") -> int:
    """``projects`` × ``environments`` deployments, each waiting at a manual step of the
    user's team, half of them already taken by the user. Rows are inserted in bulk: the
    shape of the data matters here, not how it came about. Returns how many."""
    team = Team.objects.get(name="Bulk Team")
    envs = Environment.objects.bulk_create(
        Environment(name=f"Env {prefix}{i}", slug=f"env-{prefix}{i}", sort_order=i)
        for i in range(environments)
    )
    lifecycle = Lifecycle.objects.create(name=f"Bulk {prefix}")
    phase = Phase.objects.create(lifecycle=lifecycle, name="Everywhere", position=1)
    PhaseEnvironment.objects.bulk_create(PhaseEnvironment(phase=phase, environment=e) for e in envs)
    group = ProjectGroup.objects.get(name=DEFAULT_PROJECT_GROUP)
    other_group, _ = ProjectGroup.objects.get_or_create(name="Other Group")
    projs = Project.objects.bulk_create(
        Project(
            name=f"Project {prefix}{i}",
            slug=f"project-{prefix}{i}",
            group=group if i % 2 else other_group,
            lifecycle=lifecycle,
        )
        for i in range(projects)
    )
    releases = Release.objects.bulk_create(Release(project=p, version="1.0.0") for p in projs)
    steps = ReleaseStep.objects.bulk_create(
        ReleaseStep(release=r, name="Check", position=1, kind=StepKind.MANUAL) for r in releases
    )
    ReleaseStep.responsible_teams.through.objects.bulk_create(
        ReleaseStep.responsible_teams.through(release_step=s, team=team) for s in steps
    )
    deployments = Deployment.objects.bulk_create(
        Deployment(release=r, project=r.project, environment=e, state=DeploymentState.WAITING)
        for r in releases
        for e in envs
    )
    step_by_release = {s.release_id: s for s in steps}
    dsteps = DeploymentStep.objects.bulk_create(
        DeploymentStep(
            deployment=d, release_step=step_by_release[d.release_id], position=1, state=StepState.WAITING
        )
        for d in deployments
    )
    interruptions = Interruption.objects.bulk_create(
        Interruption(
            deployment=s.deployment, step=s, type=InterruptionType.MANUAL_INTERVENTION, title="Check"
        )
        for s in dsteps
    )
    Interruption.responsible_teams.through.objects.bulk_create(
        Interruption.responsible_teams.through(interruption=i, team=team) for i in interruptions
    )
    Interruption.objects.filter(pk__in=[i.pk for i in interruptions[::2]]).update(assignee=user)
    return len(interruptions)


def count_queries(client, url, **kwargs) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **kwargs)
    assert response.status_code == 200
    return len(queries), response.content.decode()


PAGES = [
    (reverse("dashboard"), {}),
    (reverse("dashboard"), {"HX-Request": "true"}),
    (reverse("releases:interruption_list"), {}),
    (reverse("releases:interruption_list"), {"HX-Request": "true"}),
]


@pytest.mark.parametrize(("url", "headers"), PAGES)
@pytest.mark.parametrize("size", [(2, 2), (30, 10)])
def test_page_reads_at_most_a_fixed_number_of_queries(
    client, django_assert_max_num_queries, url, headers, size
):
    user = persona()
    count = build(user, *size)
    client.force_login(user)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(url, headers=headers)
    html = response.content.decode()
    if url == reverse("dashboard"):
        assert html.count('data-state="waiting"') == count
    else:
        assert html.count('class="task card"') == count
        assert html.count('value="proceed"') == (count + 1) // 2


def test_small_and_large_data_cost_the_same_queries(client):
    user = persona()
    client.force_login(user)
    build(user, 2, 2, prefix="a")
    small = {(url, str(headers)): count_queries(client, url, headers=headers)[0] for url, headers in PAGES}
    assert build(user, 28, 8, prefix="b") == 28 * 8  # now 30 projects × 10 environments
    large = {(url, str(headers)): count_queries(client, url, headers=headers)[0] for url, headers in PAGES}
    assert small == large


@pytest.mark.parametrize("size", [(2, 2), (30, 10)])
def test_dashboard_with_remembered_filters_reads_a_fixed_number_of_queries(
    client, django_assert_max_num_queries, size
):
    user = persona()
    build(user, *size)
    other_group = ProjectGroup.objects.get(name="Other Group")
    DashboardPreference.objects.create(user=user, group_ids=[other_group.pk])
    client.force_login(user)
    with django_assert_max_num_queries(MAX_QUERIES):
        html = client.get(reverse("dashboard")).content.decode()
    # projects 0, 2, 4, … are in Other Group
    assert html.count('data-state="waiting"') == (size[0] + 1) // 2 * size[1]
    assert "Showing the filters you chose last time." in html
