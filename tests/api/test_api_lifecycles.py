import pytest

from lifecycles.models import Lifecycle
from teams.models import AuditEvent

URL = "/api/v1/lifecycles/"


def three_phases():
    return {
        "name": "Three Phases",
        "description": "Test, then Live.",
        "phases": [
            {"name": "Test", "environments": [{"environment": "manual-test", "automatic": False}]},
            {
                "name": "Live",
                "environments": [{"environment": "manual-live", "automatic": True}],
                "rule": "minimum",
                "minimum": 1,
            },
        ],
    }


def test_list_has_nested_phases(api, sarah, octopus):
    body = api(sarah).get(URL).json()
    assert body["count"] == 1
    lifecycle = body["results"][0]
    assert lifecycle["name"] == "Manual Deployment Lifecycle"
    assert lifecycle["phases"] == [
        {
            "name": "Test",
            "environments": [{"environment": "manual-test", "automatic": False}],
            "rule": "all",
            "minimum": None,
        },
        {
            "name": "Live",
            "environments": [{"environment": "manual-live", "automatic": False}],
            "rule": "all",
            "minimum": None,
        },
    ]


def test_list_queries_do_not_grow_with_lifecycles(
    api, sarah, octopus, goodhealth, django_assert_max_num_queries
):
    client = api(sarah)
    with django_assert_max_num_queries(8):
        assert client.get(URL).json()["count"] == 2


def test_create_with_phases(api, root, octopus):
    response = api(root).post(URL, three_phases(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [p["name"] for p in body["phases"]] == ["Test", "Live"]
    assert body["phases"][1] == {
        "name": "Live",
        "environments": [{"environment": "manual-live", "automatic": True}],
        "rule": "minimum",
        "minimum": 1,
    }
    assert AuditEvent.objects.get(action="lifecycle.created").changes["name"] == "Three Phases"


@pytest.mark.parametrize("persona", ["sarah", "vera", "oscar", "edith"])
def test_create_refused_for_non_superusers(api, request, persona):
    response = api(request.getfixturevalue(persona)).post(URL, three_phases(), format="json")
    assert response.status_code == 403
    assert not Lifecycle.objects.filter(name="Three Phases").exists()


def test_environment_twice_in_a_lifecycle_is_400_pointing_at_the_phase(api, root, octopus):
    data = three_phases()
    data["phases"][1]["environments"].append({"environment": "manual-test"})
    response = api(root).post(URL, data, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "phases[1].environments": [
            "Manual Test is already in phase Test; an environment belongs to at most one phase of a lifecycle."
        ]
    }
    assert not Lifecycle.objects.filter(name="Three Phases").exists()


def test_minimum_rule_without_minimum_is_400(api, root, octopus):
    data = three_phases()
    data["phases"][1]["minimum"] = None
    response = api(root).post(URL, data, format="json")
    assert response.status_code == 400
    assert "phases[1].minimum" in response.json()["errors"]


def test_minimum_above_the_number_of_environments_is_400(api, root, octopus):
    data = three_phases()
    data["phases"][1]["minimum"] = 2
    response = api(root).post(URL, data, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["phases[1].minimum"] == [
        "The minimum must be between 1 and the phase's 1 environment; got 2."
    ]


def test_unknown_environment_is_400(api, root, octopus):
    data = three_phases()
    data["phases"][0]["environments"][0]["environment"] = "mars"
    response = api(root).post(URL, data, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "phases[0].environments[0].environment": ["Unknown environment mars."]
    }
    assert response.json()["detail"] == "phases[0].environments[0].environment: Unknown environment mars."


def test_patch_replaces_phases_and_progression_follows(api, root, octopus, release):
    lifecycle = octopus.project.lifecycle
    response = api(root).patch(
        f"{URL}{lifecycle.pk}/",
        {
            "phases": [
                {
                    "name": "Anywhere",
                    "environments": [{"environment": "manual-test"}, {"environment": "manual-live"}],
                }
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert [p["name"] for p in response.json()["phases"]] == ["Anywhere"]
    progression = api(root).get(f"/api/v1/releases/{release.pk}/").json()["progression"]
    assert all(row["can_deploy"] for row in progression)
    event = AuditEvent.objects.get(action="lifecycle.updated")
    assert [p["name"] for p in event.changes["phases"][0]] == ["Test", "Live"]


def test_patch_name_only_keeps_phases(api, root, octopus):
    lifecycle = octopus.project.lifecycle
    response = api(root).patch(f"{URL}{lifecycle.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200
    assert len(response.json()["phases"]) == 2


def test_patch_refused_for_project_editor(api, edith):
    lifecycle = Lifecycle.objects.get()
    response = api(edith).patch(f"{URL}{lifecycle.pk}/", {"name": "Mine"}, format="json")
    assert response.status_code == 403


def test_delete_lifecycle_in_use_is_409(api, root, octopus):
    response = api(root).delete(f"{URL}{octopus.project.lifecycle.pk}/")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Manual Deployment Lifecycle is the lifecycle of Manual Deployment, so it cannot be deleted."
    )


def test_delete_unused_lifecycle(api, root, octopus):
    created = api(root).post(URL, three_phases(), format="json").json()
    assert api(root).delete(f"{URL}{created['id']}/").status_code == 204
    assert not Lifecycle.objects.filter(pk=created["id"]).exists()


def test_delete_refused_for_deployer(api, sarah, octopus):
    assert api(sarah).delete(f"{URL}{octopus.project.lifecycle.pk}/").status_code == 403
