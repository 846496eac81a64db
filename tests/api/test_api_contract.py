"""The API contract: docs/openapi.json is the document the API serves and `make schema`
writes, a valid OpenAPI 3.1 document with one body format, one error model on every
operation and the limits the services enforce."""

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from openapi_spec_validator import validate

from releases.services import VERSION_MAX_LENGTH, release_create

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
OPENAPI = "application/vnd.oai.openapi+json"
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(COMMITTED.read_text())


def operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def differences(one: dict, other: dict) -> list[str]:
    """The paths and components where two documents differ, for a readable failure."""
    return [
        f"{section} {name}"
        for section in ("paths", "components")
        for name in sorted(set(one[section]) | set(other[section]))
        if one[section].get(name) != other[section].get(name)
    ] + [
        key
        for key in sorted(set(one) | set(other) - {"paths", "components"})
        if one.get(key) != other.get(key)
    ]


def test_served_exported_and_committed_schemas_are_one_document(db, api, sarah, committed, tmp_path):
    served = api(sarah).get("/api/v1/schema/", HTTP_ACCEPT=OPENAPI).json()
    exported = tmp_path / "openapi.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(exported))
    assert differences(served, json.loads(exported.read_text())) == []
    assert differences(served, committed) == [], (
        "docs/openapi.json differs from what the API serves: run `make schema` and commit it."
    )


def test_committed_schema_is_valid_openapi_3_1(committed):
    assert committed["openapi"] == "3.1.0"
    validate(committed)


def test_bodies_are_json_and_the_process_document_also_yaml(committed):
    kinds = {
        name: list(operation["requestBody"]["content"])
        for name, operation in operations(committed)
        if "requestBody" in operation
    }
    assert kinds.pop("PUT /api/v1/projects/{slug}/process/") == ["application/json", "application/yaml"]
    assert kinds and set(map(tuple, kinds.values())) == {("application/json",)}
    process = committed["paths"]["/api/v1/projects/{slug}/process/"]["get"]["responses"]["200"]["content"]
    assert list(process) == ["application/json", "application/yaml"]


def test_every_operation_declares_its_refusals_in_the_error_model(committed):
    for name, operation in operations(committed):
        responses = operation["responses"]
        refusals = {status: response for status, response in responses.items() if status.startswith("4")}
        assert all(response["content"] == ERROR for response in refusals.values()), name
        if operation.get("security") != [{}]:
            assert {"401", "429"} <= set(refusals), name
        if "{" in name:
            assert "404" in refusals, name
        if "requestBody" in operation:
            assert {"400", "415"} <= set(refusals), name
    error = committed["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "detail"]
    assert error["properties"]["errors"]["additionalProperties"] == {
        "type": "array",
        "items": {"type": "string"},
    }


def test_request_models_leave_out_read_only_fields(committed):
    schemas = committed["components"]["schemas"]
    requests = [name for name in schemas if name.endswith("Request")]
    assert {"EnvironmentRequest", "LifecycleRequest", "TeamRequest", "ReleaseCreateRequest"} <= set(requests)
    assert [name for name in requests if "id" in schemas[name].get("properties", {})] == []


def test_limits_and_nullable_references_are_in_the_schema(committed):
    schemas = committed["components"]["schemas"]
    release = schemas["ReleaseCreateRequest"]["properties"]
    assert release["version"]["maxLength"] == VERSION_MAX_LENGTH
    assert release["version"]["pattern"] == r"^\S+$"
    assert release["notes"]["maxLength"] == settings.RELMAN_NOTES_MAX_LENGTH
    assert schemas["InterruptionSubmitRequest"]["properties"]["notes"]["maxLength"] == 20_000
    assert schemas["Progression"]["properties"]["latest_deployment"] == {
        "oneOf": [{"$ref": "#/components/schemas/DeploymentRef"}, {"type": "null"}]
    }
    assert "default" not in schemas["UserCreateRequest"]["properties"]["email"]


def test_a_form_body_is_refused_in_the_error_model(api, root, octopus):
    response = api(root).post(
        "/api/v1/projects/manual-deployment/releases/", {"version": "1.0.0"}, format="multipart"
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert response.json()["detail"].startswith('Unsupported media type "multipart/form-data')


def test_format_in_the_query_does_not_change_the_answer(api, root, octopus):
    response = api(root).get("/api/v1/projects/manual-deployment/process/", {"format": "yaml"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    yaml = api(root).get("/api/v1/projects/manual-deployment/process/", HTTP_ACCEPT="application/yaml")
    assert yaml["Content-Type"] == "application/yaml; charset=utf-8"
    missing = api(root).get("/api/v1/projects/nothing/process/", HTTP_ACCEPT="application/yaml")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not found.", "code": "not_found"}


def test_field_errors_are_typed_and_duplicates_conflict(api, root, octopus):
    admin = api(root)
    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    unknown = admin.post(f"/api/v1/releases/{release.pk}/deployments/", {"environment": "nowhere"})
    assert unknown.status_code == 400
    body = unknown.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["environment"]
    assert body["detail"] == f"environment: {body['errors']['environment'][0]}"

    duplicate = admin.post("/api/v1/projects/manual-deployment/releases/", {"version": "1.0.0"})
    assert duplicate.status_code == 409
    assert duplicate.json() == {
        "detail": "Manual Deployment already has a release 1.0.0; choose another version.",
        "code": "duplicate_version",
    }
