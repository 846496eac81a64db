"""The bad input SPEC §8 names — malformed JSON, unknown references, duplicate version,
oversized notes, wrong states — across the API: each gets a clear ``{"detail", "code"}``
error and changes nothing, row for row, in any table Relman owns."""

import json
from string import Template

import pytest
from django.apps import apps
from django.urls import reverse
from rest_framework.test import APIClient

from processes.services import StepSpec, process_step_errors, project_update
from releases.models import Interruption
from releases.services import deployment_create, interruption_submit, release_create
from teams.services import api_key_create

APPS = ["teams", "lifecycles", "processes", "releases"]
TOO_LONG = "n" * 20_001
RELEASES = "/api/v1/projects/manual-deployment/releases/"
PROCESS = "/api/v1/projects/manual-deployment/process/"


def snapshot() -> dict[str, list[dict]]:
    """Every row of every table of Relman's apps."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for app in APPS
        for model in apps.get_app_config(app).get_models()
    }


@pytest.fixture
def scene(octopus, goodhealth, root, engine):
    """Release 1.0.0 of Manual Deployment waiting in Manual Test; GoodHealth 2.0.0 through
    Integration (its Migrate Data answered) and Testing; a disabled project."""
    with engine():
        release = release_create(project=octopus.project, version="1.0.0", actor=root)
        waiting = deployment_create(release=release, environment=octopus.environments[0], actor=root)
        pipeline = release_create(project=goodhealth.project, version="2.0.0", actor=root)
        finished = deployment_create(release=pipeline, environment=goodhealth.environments[0], actor=root)
    answered = Interruption.objects.get(deployment=finished, pending=True)
    with engine():
        interruption_submit(
            interruption=answered, result="proceed", notes="12 records.", actor=goodhealth.users["admin-ops"]
        )
    project_update(project=goodhealth.project, disabled=True, actor=root)
    return {
        "lifecycle": octopus.project.lifecycle_id,
        "release": release.pk,
        "waiting": waiting.pk,
        "pending": Interruption.objects.get(deployment=waiting, pending=True).pk,
        "finished": finished.pk,
        "answered": answered.pk,
    }


def _client(user) -> APIClient:
    client = APIClient()
    _, key = api_key_create(user=user, purpose="bad input", actor=None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    client.get("/api/v1/me/")  # the key's first use records last_used_at; that is not the request under test
    return client


def _raw(body: str | bytes, content_type: str = "application/json") -> dict:
    return {"data": body, "content_type": content_type}


def _json(body) -> dict:
    return {"data": json.dumps(body), "content_type": "application/json"}


# (who, method, path, request, status, code); paths name the scene's ids as {release},
# JSON bodies as $lifecycle.
CASES = {
    # malformed JSON and YAML, and bodies of the wrong shape
    "release, truncated JSON": ("root", "post", RELEASES, _raw('{"version": "9.9.9",'), 400, "parse_error"),
    "release, JSON list": ("root", "post", RELEASES, _json(["9.9.9"]), 400, "invalid"),
    "release, not UTF-8": ("root", "post", RELEASES, _raw(b'{"version": "\xff"}'), 400, "parse_error"),
    "release, version a list": ("root", "post", RELEASES, _json({"version": ["9"]}), 400, "invalid"),
    "release, plain text": ("root", "post", RELEASES, _raw("version=9", "text/plain"), 415, "unsupported_media_type"),
    "release, form-encoded": (
        "root", "post", RELEASES, _raw("version=9", "application/x-www-form-urlencoded"), 415, "unsupported_media_type",
    ),
    "deployment, truncated JSON": (
        "root", "post", "/api/v1/releases/{release}/deployments/", _raw('{"environment":'), 400, "parse_error",
    ),
    "submit, truncated JSON": (
        "sarah", "post", "/api/v1/interruptions/{pending}/submit/", _raw('{"result": "proceed"'), 400, "parse_error",
    ),
    "process, truncated JSON": ("root", "put", PROCESS, _raw('{"steps": [{"name": "A"}'), 400, "parse_error"),
    "process, malformed YAML": ("root", "put", PROCESS, _raw("steps: [\n  - name: A", "application/yaml"), 400, "parse_error"),
    "process, steps not a list": ("root", "put", PROCESS, _json({"steps": {"name": "A"}}), 400, "invalid"),
    "team, truncated JSON": ("root", "post", "/api/v1/teams/", _raw('{"name": "X", "members": ['), 400, "parse_error"),
    "lifecycle, truncated JSON": ("root", "post", "/api/v1/lifecycles/", _raw('{"name": "X", "phases"'), 400, "parse_error"),
    # unknown references
    "deploy to an unknown environment": (
        "root", "post", "/api/v1/releases/{release}/deployments/", _json({"environment": "nowhere"}), 400, "invalid",
    ),
    "deploy an unknown release": (
        "root", "post", "/api/v1/releases/999999/deployments/", _json({"environment": "manual-test"}), 404, "not_found",
    ),
    "release of an unknown project": (
        "root", "post", "/api/v1/projects/nowhere/releases/", _json({"version": "9.9.9"}), 404, "not_found",
    ),
    "submit an unknown interruption": (
        "root", "post", "/api/v1/interruptions/999999/submit/", _json({"result": "proceed"}), 404, "not_found",
    ),
    "cancel an unknown deployment": ("root", "post", "/api/v1/deployments/999999/cancel/", _json({}), 404, "not_found"),
    "team with an unknown member": ("root", "post", "/api/v1/teams/", _json({"name": "Ghosts", "members": ["casper"]}), 400, "invalid"),
    "project with an unknown lifecycle": (
        "root", "post", "/api/v1/projects/", _json({"name": "Ghost", "lifecycle": 999999}), 400, "invalid",
    ),
    "lifecycle with an unknown environment": (
        "root", "post", "/api/v1/lifecycles/",
        _json({"name": "Ghost", "phases": [{"name": "P", "environments": [{"environment": "nowhere"}]}]}),
        400, "invalid",
    ),
    "process with an unknown team": (
        "root", "put", PROCESS, _json({"steps": [{"name": "A", "responsible_teams": [999999]}]}), 400, "invalid",
    ),
    "process with an unknown environment": (
        "root", "put", PROCESS, _raw("steps:\n- name: A\n  environments: [nowhere]\n", "application/yaml"), 400, "invalid",
    ),
    "interruptions of a deployment id out of range": (
        "root", "get", "/api/v1/interruptions/?deployment=36893488147419103231", {}, 400, "invalid",
    ),
    "log after a non-number": ("root", "get", "/api/v1/deployments/{waiting}/log/?after=%C2%B2", {}, 400, "invalid"),
    "log after a number too long for int()": ("root", "get", "/api/v1/deployments/{waiting}/log/?after=" + "9" * 4301, {}, 400, "invalid"),
    "log after an id out of range": ("root", "get", "/api/v1/deployments/{waiting}/log/?after=" + "9" * 20, {}, 400, "invalid"),
    "an id that is not a number": ("root", "get", "/api/v1/deployments/0.5/", {}, 404, "not_found"),
    # duplicates
    "duplicate version": ("root", "post", RELEASES, _json({"version": "1.0.0"}), 409, "duplicate_version"),
    "duplicate environment": ("root", "post", "/api/v1/environments/", _json({"name": "Manual Test"}), 409, "duplicate_name"),
    "duplicate project slug": (
        "root", "post", "/api/v1/projects/", _json({"name": "Another", "slug": "manual-deployment", "lifecycle": "$lifecycle"}),
        409, "duplicate_slug",
    ),
    "duplicate step names": (
        "root", "put", PROCESS, _json({"steps": [{"name": "A"}, {"name": "A"}]}), 400, "invalid",
    ),
    # oversized notes
    "oversized release notes": ("root", "post", RELEASES, _json({"version": "9.9.9", "notes": TOO_LONG}), 400, "invalid"),
    "body over the upload limit": (
        "root", "post", RELEASES, _json({"version": "9.9.9", "notes": "n" * 2_621_441}), 400, "too_large",
    ),
    "YAML process document over its limit": (
        "root", "put", PROCESS, _raw("steps:\n- name: A\n  instructions: " + "n" * 1_048_576, "application/yaml"),
        400, "too_large",
    ),
    "JSON process document over its limit": (
        "root", "put", PROCESS, _json({"steps": [{"name": "A", "instructions": "n" * 1_048_576}]}), 400, "too_large",
    ),
    "oversized step instructions": (
        "root", "put", PROCESS, _json({"steps": [{"name": "A", "instructions": TOO_LONG}]}), 400, "invalid",
    ),
    "oversized step script": (
        "root", "put", PROCESS, _json({"steps": [{"name": "A", "kind": "script", "script": "e" * 100_001}]}), 400, "invalid",
    ),
    "oversized submit notes": (
        "sarah", "post", "/api/v1/interruptions/{pending}/submit/", _json({"result": "proceed", "notes": TOO_LONG}),
        400, "invalid",
    ),
    # wrong states
    "deploy to Live before Test": (
        "root", "post", "/api/v1/releases/{release}/deployments/", _json({"environment": "manual-live"}), 409, "lifecycle",
    ),
    "release of a disabled project": (
        "root", "post", "/api/v1/projects/goodhealth/releases/", _json({"version": "9.9.9"}), 409, "project_disabled",
    ),
    "submit an answered interruption": (
        "admin-ops", "post", "/api/v1/interruptions/{answered}/submit/", _json({"result": "proceed"}), 409, "already_submitted",
    ),
    "take an answered interruption": ("admin-ops", "post", "/api/v1/interruptions/{answered}/take/", _json({}), 409, "already_submitted"),
    "cancel a finished deployment": ("root", "post", "/api/v1/deployments/{finished}/cancel/", _json({}), 409, "already_finished"),
    "guidance for a manual intervention": (
        "sarah", "post", "/api/v1/interruptions/{pending}/submit/", _json({"guidance": "retry"}), 400, "invalid_result",
    ),
    "no answer at all": ("sarah", "post", "/api/v1/interruptions/{pending}/submit/", _json({"notes": "hm"}), 400, "invalid_result"),
    "delete an environment in use": ("root", "delete", "/api/v1/environments/manual-test/", {}, 409, "in_use"),
}  # fmt: skip


@pytest.fixture
def people(root, sarah, goodhealth) -> dict:
    return {"root": root, "sarah": sarah, "admin-ops": goodhealth.users["admin-ops"]}


@pytest.mark.parametrize("case", CASES.keys())
def test_bad_input_is_refused_and_changes_nothing(case, scene, people):
    who, method, path, payload, status, code = CASES[case]
    client = _client(people[who])
    before = snapshot()

    if isinstance(payload.get("data"), str):
        payload = {**payload, "data": Template(payload["data"]).safe_substitute(scene)}
    response = getattr(client, method)(path.format(**scene), **payload)

    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["code"] == code
    assert snapshot() == before


def test_the_snapshot_sees_a_good_request(scene, people):
    """The control: the same kind of request, well formed, does change the snapshot."""
    client = _client(people["root"])
    before = snapshot()
    assert client.post(RELEASES, **_json({"version": "9.9.9"})).status_code == 201
    assert snapshot() != before


# --- versions at the limit ------------------------------------------------------------------

# The longest accepted versions whose sort keys are the longest: many one-digit pre-release
# identifiers, many one-letter ones, and numbers too long for any fixed padding.
LONGEST_VERSIONS = [
    "1.1.1-" + ".".join("1" * 47),
    "1.1.1-" + ".".join("a" * 47),
    "1.1.1-" + ".".join("12345678901" for _ in range(7)) + ".1.1.1.1.1",
    ".".join("9" * 32 for _ in range(3)) + "-a",
    "v1.1.1-0.0+" + "b" * 89,
]


@pytest.mark.parametrize("version", LONGEST_VERSIONS)
def test_longest_versions_are_accepted(version, scene, people):
    assert len(version) >= 99
    response = _client(people["root"]).post(RELEASES, **_json({"version": version}))
    assert response.status_code == 201, response.content


def test_long_numbers_rank_as_numbers(scene, people):
    client = _client(people["root"])
    for version in ["10000000000.0.0", "9999999999.0.0", "2.0.0-99999999999", "2.0.0-100", "2.0.0-a"]:
        assert client.post(RELEASES, **_json({"version": version})).status_code == 201
    listed = [r["version"] for r in client.get(RELEASES).json()["results"]]
    assert listed[:5] == ["10000000000.0.0", "9999999999.0.0", "2.0.0-a", "2.0.0-99999999999", "2.0.0-100"]


# --- pages -----------------------------------------------------------------------------------

HUGE_ID = "9" * 4301


@pytest.mark.parametrize(
    "query",
    [f"?project={HUGE_ID}", f"?group={HUGE_ID}", f"?environment={HUGE_ID}", "?project=" + "9" * 20],
)
def test_dashboard_ignores_filter_ids_out_of_range(query, scene, client, sarah):
    client.force_login(sarah)
    before = snapshot()
    response = client.get(reverse("dashboard") + query)
    assert response.status_code == 200
    assert snapshot() == before


@pytest.mark.parametrize("after", [HUGE_ID, "9" * 20])
def test_log_poll_ignores_an_entry_id_out_of_range(after, scene, client, sarah):
    client.force_login(sarah)
    response = client.get(reverse("releases:deployment_log", args=[scene["waiting"]]) + f"?after={after}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "sentence"),
    [
        ("instructions", TOO_LONG, "Instructions are limited to 20,000 characters; these have 20,001."),
        ("script", "e" * 100_001, "A script is limited to 100,000 characters; this one has 100,001."),
    ],
)
def test_step_field_limits_are_named_by_the_service(field, value, sentence):
    errors = process_step_errors([StepSpec(name="A", kind="script", **{"script": "true", field: value})])
    assert errors == {0: {field: [sentence]}}
