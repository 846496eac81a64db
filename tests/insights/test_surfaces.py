"""The API and the pages of Insights: their shape, who sees what, bad input, queries."""

import pytest
from django.urls import reverse

from insights.selectors import OVERVIEW_LIMIT
from teams.choices import Role
from teams.models import RoleGrant, Team, User

from .conftest import BACKUP, DAYS, NOW

pytestmark = pytest.mark.django_db


def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def frozen(monkeypatch):
    """The history's NOW as the surfaces' clock."""
    monkeypatch.setattr("insights.selectors.timezone.now", lambda: NOW)


@pytest.fixture
def lena(history):
    """A viewer of Manual Live only."""
    user = User.objects.create_user("lena", display_name="Lena")
    team = Team.objects.create(name="Live watchers")
    team.members.add(user)
    RoleGrant.objects.create(team=team, role=Role.VIEWER).environments.add(history.live)
    return user


def test_api_answers_the_figures_of_spec_12(client, history, vera, frozen):
    response = signed_in(client, vera).get(
        f"/api/v1/projects/manual-deployment/insights/?days={DAYS}&environment=manual-test"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["steps"][0] == {
        "name": BACKUP,
        "automation_level": 1,
        "runs": 4,
        "median_wait_seconds": 120,
        "median_work_seconds": 90,
        "aborts": 0,
        "failures": 0,
        "human_seconds": 1200,
    }
    assert body["automate_next"][0] == {
        "step": BACKUP,
        "human_seconds": 1200,
        "reason": "Backup the database: 20 min 0 s of waiting and work over 4 deployments",
    }
    assert body["dora"] == {
        "manual-test": {
            "deployments": 8,
            "frequency_per_week": 2.0,
            "lead_time_median_seconds": 55_800,
            "change_failure_rate": 0.4286,
            "time_to_restore_median_seconds": 7200,
        }
    }


def test_api_overview_ranks_across_projects(client, history, vera, frozen):
    response = signed_in(client, vera).get(f"/api/v1/insights/?days={DAYS}")

    assert response.status_code == 200
    assert response.json()["automate_next"][0] == {
        "project": "manual-deployment",
        "step": BACKUP,
        "human_seconds": 1200,
        "reason": "Backup the database: 20 min 0 s of waiting and work over 4 deployments",
    }
    assert len(response.json()["automate_next"]) <= OVERVIEW_LIMIT


def test_out_of_scope_project_is_404_and_overview_empty(client, history, oscar, frozen):
    assert signed_in(client, oscar).get("/api/v1/projects/manual-deployment/insights/").status_code == 404
    assert signed_in(client, oscar).get("/api/v1/insights/").json() == {"automate_next": []}
    client.force_login(oscar)
    assert client.get(reverse("insights:project_insights", args=["manual-deployment"])).status_code == 404


def test_a_viewer_of_one_environment_sees_only_its_deployments(client, history, lena, frozen):
    signed_in(client, lena)
    body = client.get(f"/api/v1/projects/manual-deployment/insights/?days={DAYS}").json()

    assert list(body["dora"]) == ["manual-live"]
    assert body["steps"][0]["runs"] == 0
    assert body["automate_next"] == []
    assert client.get(f"/api/v1/insights/?days={DAYS}").json() == {"automate_next": []}
    refused = client.get("/api/v1/projects/manual-deployment/insights/?environment=manual-test")
    assert refused.status_code == 400
    assert "choose an environment of its lifecycle" in refused.json()["detail"]


@pytest.mark.parametrize(
    "query", ["days=0", "days=3651", "days=many", "environment=nowhere", "days=99999999999999999999999"]
)
def test_bad_input_is_a_clear_400(client, history, vera, query):
    response = signed_in(client, vera).get(f"/api/v1/projects/manual-deployment/insights/?{query}")

    assert response.status_code == 400
    assert response.json()["detail"]


def test_project_page_draws_each_chart_with_its_table(
    client, history, vera, frozen, django_assert_max_num_queries
):
    client.force_login(vera)
    project_page = client.get(reverse("releases:project_detail", args=["manual-deployment"])).content.decode()
    assert 'href="/projects/manual-deployment/insights/"' in project_page

    with django_assert_max_num_queries(15):
        response = client.get(f"/projects/manual-deployment/insights/?days={DAYS}")

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("<svg") == 2 + 2 * 2  # ladder, human time; per environment frequency and lead time
    assert page.count('<details class="chart__table"') == 6
    assert "Backup the database: 20 min 0 s of waiting and work over 4 deployments" in page
    assert "<script" not in page.split("</head>")[1]
    assert " style=" not in page


def test_project_page_refuses_bad_input_with_the_reason(client, history, vera):
    client.force_login(vera)

    response = client.get("/projects/manual-deployment/insights/?days=0")

    assert response.status_code == 400
    assert "greater than or equal to 1" in response.content.decode()


def test_overview_page_is_in_the_navigation(client, history, vera, frozen, django_assert_max_num_queries):
    client.force_login(vera)
    with django_assert_max_num_queries(10):
        response = client.get(f"/insights/?days={DAYS}")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'href="/insights/" aria-current="page">Insights</a>' in page
    assert 'href="/projects/manual-deployment/insights/">Manual Deployment</a>' in page
