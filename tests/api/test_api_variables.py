"""The variables API: one document per project, library sets; sensitive values are
write-only and a PUT with ``value: null`` keeps them."""

import json

import pytest

from lifecycles.models import Environment
from targets.services import target_create
from teams.models import AuditEvent
from variables.models import LibraryVariableSet, Variable

SECRET = "pa55-w0rd-never-shown"


def doc(*variables, library_sets=()):
    return {"variables": list(variables), "library_sets": list(library_sets)}


def var(name="Db", value="db1", **fields):
    return {"name": name, "value": value, **fields}


@pytest.fixture
def url(octopus):
    return f"/api/v1/projects/{octopus.project.slug}/variables/"


def test_a_project_editor_replaces_the_document_and_a_sensitive_value_never_reads_back(api, edith, vera, url):
    target_create(name="db-01", environments=list(Environment.objects.all()), roles=["db"], actor=None)
    sent = doc(
        var("Db", "db-test", environments=["manual-test"]),
        var("Db", "db-any"),
        var("Password", SECRET, sensitive=True, roles=["db"], targets=["db-01"]),
    )
    response = api(edith).put(url, sent, format="json")
    assert response.status_code == 200, response.json()
    for answer in (response, api(vera).get(url)):
        body = answer.json()
        assert SECRET not in json.dumps(body)
        assert body["library_sets"] == []
        by_value = {v["value"]: v for v in body["variables"]}
        assert by_value["db-test"]["environments"] == ["manual-test"]
        assert by_value[None] == {
            "name": "Password",
            "value": None,
            "sensitive": True,
            "has_value": True,
            "environments": [],
            "roles": ["db"],
            "targets": ["db-01"],
        }
    event = AuditEvent.objects.get(action="variables.updated")
    assert SECRET not in json.dumps(event.changes)
    assert event.changes["Password (roles: db; targets: db-01)"] == [None, "(sensitive)"]


def test_a_put_with_null_keeps_the_secret_and_a_new_value_is_audited_as_changed(api, edith, url):
    api(edith).put(url, doc(var("Password", SECRET, sensitive=True)), format="json")
    response = api(edith).put(
        url, doc(var("Password", None, sensitive=True), var("Other", "x")), format="json"
    )
    assert response.status_code == 200, response.json()
    assert Variable.objects.get(name="Password").plain_value() == SECRET
    api(edith).put(url, doc(var("Password", "new-secret", sensitive=True)), format="json")
    assert Variable.objects.get(name="Password").plain_value() == "new-secret"
    last = AuditEvent.objects.filter(action="variables.updated").latest("id")
    assert last.changes["Password (unscoped)"] == ["(sensitive)", "(sensitive) changed"]
    assert "new-secret" not in json.dumps(last.changes)


@pytest.mark.parametrize(
    ("variables", "code", "says"),
    [
        ([var("Db Password")], "invalid_variable", "use only letters, digits, '.', '_' and '-'"),
        ([var("Db", "x" * (64 * 1024 + 1))], "invalid_variable", "at most 64 KiB"),
        ([var("Db", None, sensitive=True)], "value_required", "give a value"),
        ([var("Db", "a"), var("Db", "b")], "ambiguous_variable", "Db (unscoped) and Db (unscoped)"),
        ([var("Db", environments=["nowhere"])], "invalid", "Unknown environment nowhere"),
        ([var("Db", roles=["no spaces"])], "invalid_variable", "not a valid role"),
        ([var("Db", targets=["web-9"])], "invalid_variable", "no target has the slug 'web-9'"),
    ],
)
def test_bad_documents_are_refused_with_the_rule_and_change_nothing(api, edith, url, variables, code, says):
    response = api(edith).put(url, doc(*variables), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert says in json.dumps(response.json())
    assert not Variable.objects.exists()


def test_who_may_read_and_change_project_variables(api, vera, oscar, url):
    assert api(vera).put(url, doc(var()), format="json").status_code == 403
    assert api(oscar).get(url).status_code == 404
    assert api(oscar).put(url, doc(var()), format="json").status_code == 404
    assert not Variable.objects.exists()


def test_library_sets_superuser_only_included_once_and_not_deleted_while_included(
    api, root, edith, url, octopus
):
    response = api(edith).post("/api/v1/library-variable-sets/", {"name": "Shared"}, format="json")
    assert response.status_code == 403
    created = api(root).post(
        "/api/v1/library-variable-sets/",
        {"name": "Shared", "variables": [var("Smtp", SECRET, sensitive=True)]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    set_id = created.json()["id"]
    again = api(root).post("/api/v1/library-variable-sets/", {"name": "Shared"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "duplicate_name"
    assert created.json()["variables"][0]["value"] is None
    twice = api(edith).put(url, doc(library_sets=[set_id, set_id]), format="json")
    assert twice.status_code == 400
    assert "includes the library set Shared twice" in twice.json()["detail"]
    assert api(edith).put(url, doc(library_sets=[set_id]), format="json").json()["library_sets"] == [set_id]
    kept = api(root).put(
        f"/api/v1/library-variable-sets/{set_id}/",
        {"name": "Shared", "variables": [var("Smtp", None, sensitive=True)]},
        format="json",
    )
    assert kept.status_code == 200, kept.json()
    assert LibraryVariableSet.objects.get().variables.get().plain_value() == SECRET
    refused = api(root).delete(f"/api/v1/library-variable-sets/{set_id}/")
    assert refused.status_code == 409
    assert refused.json()["code"] == "in_use"
    assert octopus.project.name in refused.json()["detail"]
    api(edith).put(url, doc(), format="json")
    assert api(root).delete(f"/api/v1/library-variable-sets/{set_id}/").status_code == 204


def test_reading_a_document_is_a_few_queries(api, edith, url, django_assert_max_num_queries):
    api(edith).put(url, doc(*(var(f"V{i}", environments=["manual-test"]) for i in range(20))), format="json")
    client = api(edith)
    with django_assert_max_num_queries(10):
        assert len(client.get(url).json()["variables"]) == 20
