"""Who may do what, as one table: personas × actions, through the API and the pages.

Personas, on the Manual Deployment project (group Default Project Group):
- sarah: deployer on the Default Project Group, every environment
- pia: deployer scoped to the project Manual Deployment and the environment Manual Test
- vera: viewer of every project
- gus: deployer on another project group only
- oscar: in no team
- root: superuser

Every cell runs in a fresh database: the API answer must be the status in the table, and
the page must answer or act the same way (a refusal changes nothing).
"""

import pytest
from rest_framework.test import APIClient

from lifecycles.models import Environment
from processes.models import ProjectGroup
from releases.models import Deployment
from releases.services import deployment_create, release_create
from teams.choices import Role
from teams.models import RoleGrant, Team, User

PERSONAS = ["sarah", "pia", "vera", "gus", "oscar", "root"]

# action: status per persona, in PERSONAS order
MATRIX = {
    "view_project": [200, 200, 200, 404, 404, 200],
    "view_deployment": [200, 200, 200, 404, 404, 200],
    "deploy_to_test": [201, 201, 403, 404, 404, 201],
    "deploy_to_live": [409, 403, 403, 404, 404, 409],  # the lifecycle refuses those who may deploy
    "create_release": [403, 403, 403, 404, 404, 201],
    "cancel": [200, 200, 403, 404, 404, 200],
}


@pytest.fixture
def world(octopus, sarah, vera, oscar, root):
    test, live = octopus.environments
    pia = User.objects.create_user("pia", display_name="Pia")
    scoped = Team.objects.create(name="Test deployers")
    scoped.members.add(pia)
    grant = RoleGrant.objects.create(team=scoped, role=Role.DEPLOYER)
    grant.projects.add(octopus.project)
    grant.environments.add(test)

    gus = User.objects.create_user("gus", display_name="Gus")
    others = Team.objects.create(name="Other deployers")
    others.members.add(gus)
    RoleGrant.objects.create(team=others, role=Role.DEPLOYER).project_groups.add(
        ProjectGroup.objects.create(name="Other group")
    )

    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    deployment = deployment_create(release=release, environment=test, actor=root)
    users = {"sarah": sarah, "pia": pia, "vera": vera, "gus": gus, "oscar": oscar, "root": root}
    return {"users": users, "release": release, "deployment": deployment, "project": octopus.project}


def call_api(action: str, client: APIClient, world) -> int:
    release, deployment, project = world["release"], world["deployment"], world["project"]
    if action == "view_project":
        return client.get(f"/api/v1/projects/{project.slug}/").status_code
    if action == "view_deployment":
        return client.get(f"/api/v1/deployments/{deployment.pk}/").status_code
    if action == "deploy_to_test":
        return client.post(
            f"/api/v1/releases/{release.pk}/deployments/", {"environment": "manual-test"}
        ).status_code
    if action == "deploy_to_live":
        return client.post(
            f"/api/v1/releases/{release.pk}/deployments/", {"environment": "manual-live"}
        ).status_code
    if action == "create_release":
        return client.post(f"/api/v1/projects/{project.slug}/releases/", {"version": "2.0.0"}).status_code
    return client.post(f"/api/v1/deployments/{deployment.pk}/cancel/").status_code


def call_page(action: str, client, world):
    """The page's answer: a status for reads; for actions, whether anything changed."""
    release, deployment, project = world["release"], world["deployment"], world["project"]
    if action == "view_project":
        return client.get(f"/projects/{project.slug}/").status_code
    if action == "view_deployment":
        return client.get(f"/deployments/{deployment.pk}/").status_code
    if action in ("deploy_to_test", "deploy_to_live"):
        slug = "manual-test" if action == "deploy_to_test" else "manual-live"
        before = Deployment.objects.count()
        response = client.post(f"/releases/{release.pk}/deploy/", {"environment": slug})
        return 404 if response.status_code == 404 else Deployment.objects.count() > before
    if action == "cancel":
        response = client.post(f"/deployments/{deployment.pk}/cancel/", {"confirmed": "1"})
        deployment.refresh_from_db()
        return 404 if response.status_code == 404 else deployment.state == "cancelled"
    raise AssertionError(f"no page action {action}")


CELLS = [
    (action, persona, statuses[i])
    for action, statuses in MATRIX.items()
    for i, persona in enumerate(PERSONAS)
]
# Releases are created with the project page's form, whose refusals tests/web covers.
PAGE_CELLS = [cell for cell in CELLS if cell[0] != "create_release"]


@pytest.mark.parametrize(("action", "persona", "status"), CELLS, ids=[f"{a}-{p}" for a, p, _ in CELLS])
def test_api(world, action, persona, status):
    client = APIClient()
    client.force_authenticate(world["users"][persona])
    assert call_api(action, client, world) == status


@pytest.mark.parametrize(
    ("action", "persona", "status"), PAGE_CELLS, ids=[f"{a}-{p}" for a, p, _ in PAGE_CELLS]
)
def test_pages(world, client, action, persona, status):
    client.force_login(world["users"][persona])
    outcome = call_page(action, client, world)
    if status == 404:
        assert outcome == 404, f"{persona} could see what is out of scope"
    elif status in (403, 409):
        assert outcome in (False, 403), f"{persona} was allowed to {action} on the page"
    else:
        assert outcome in (200, True), f"{persona} could not {action} on the page"


def test_environment_scope_hides_other_environments_deployments(world, root):
    """pia's grant covers Manual Test only: a deployment to Manual Live is invisible to her."""
    live = Environment.objects.get(slug="manual-live")
    Deployment.objects.filter(pk=world["deployment"].pk).update(state="success")
    live_deployment = deployment_create(release=world["release"], environment=live, actor=root)
    client = APIClient()
    client.force_authenticate(world["users"]["pia"])
    assert client.get(f"/api/v1/deployments/{live_deployment.pk}/").status_code == 404
    listed = {d["id"] for d in client.get("/api/v1/deployments/").json()["results"]}
    assert live_deployment.pk not in listed and world["deployment"].pk in listed
