"""The audit trail page and API: superusers and auditors only, filterable, exportable as
CSV; a scoped auditor reads the events of their scope."""

import csv
import io

from django.urls import reverse

from releases.services import interruption_take
from teams.audit import audit_record, audit_seal
from teams.models import AuditEvent

AUDIT = reverse("audit_list")


def _csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_superuser_and_auditor_read_the_trail(signed_in, root, audrey, waiting):
    for user in (root, audrey):
        response = signed_in(user).get(AUDIT)
        assert response.status_code == 200
        page = response.content.decode()
        assert "deployment.created" in page and "release.created" in page


def test_others_are_refused(signed_in, sarah, vera, oscar, client):
    for user in (sarah, vera, oscar):
        assert signed_in(user).get(AUDIT).status_code == 403
    client.logout()
    response = client.get(AUDIT)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_filters_by_actor_action_project_and_time(signed_in, root, sarah, backup):
    interruption_take(interruption=backup, actor=sarah)
    client = signed_in(root)

    page = client.get(AUDIT, {"actor": "sarah", "action": "interruption.taken"}).content.decode()
    assert "interruption.taken" in page and "deployment.created" not in page

    page = client.get(AUDIT, {"project": "goodhealth"}).content.decode()
    assert "interruption.taken" not in page

    page = client.get(AUDIT, {"from": "2999-01-01T00:00"}).content.decode()
    assert "interruption.taken" not in page

    assert client.get(AUDIT, {"from": "not a time"}).status_code == 400


def test_pages_hold_fifty_events(signed_in, root):
    for n in range(60):
        audit_record(actor=root, action=f"test.event-{n:02d}", subject=root)
    client = signed_in(root)

    first = client.get(AUDIT).content.decode()
    second = client.get(AUDIT, {"page": 2}).content.decode()

    assert "test.event-59" in first and "test.event-10" in first and "test.event-09" not in first
    assert "test.event-09" in second and "test.event-00" in second


def test_csv_export_has_every_matching_event_with_its_seal(signed_in, root, sarah, backup):
    interruption_take(interruption=backup, actor=sarah)
    audit_seal()

    response = signed_in(root).get(AUDIT, {"format": "csv", "actor": "sarah"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="relman-audit-')
    [row] = _csv(response)
    event = AuditEvent.objects.get(action="interruption.taken")
    assert row["action"] == "interruption.taken"
    assert row["actor"] == "sarah"
    assert row["project"] == "manual-deployment"
    assert row["environment"] == "manual-test"
    assert (row["sequence"], row["hash"]) == (str(event.sequence), event.hash)
    assert '"assignee": [null, "sarah"]' in row["changes"]


def test_csv_cells_cannot_become_spreadsheet_formulas(signed_in, root):
    audit_record(actor=root, action="test.formula", subject=root, changes={"x": 1})
    root.username = "=HYPERLINK(1)"
    audit_record(actor=root, action="test.formula", subject=root)

    rows = _csv(signed_in(root).get(AUDIT, {"format": "csv", "action": "test.formula"}))
    assert rows[0]["actor"] == "'=HYPERLINK(1)"


def test_scoped_auditor_reads_only_their_projects_events(signed_in, api, scott, waiting, goodhealth, root):
    audit_record(actor=root, action="test.goodhealth", subject=goodhealth.project, project=goodhealth.project)

    page = signed_in(scott).get(AUDIT).content.decode()
    assert "test.goodhealth" in page
    assert "deployment.created" not in page  # Manual Deployment's

    listed = api(scott).get("/api/v1/audit/").json()
    assert [e["action"] for e in listed["results"]] == ["test.goodhealth"]


def test_auditor_reads_the_api_trail(api, audrey, waiting):
    response = api(audrey).get("/api/v1/audit/", {"action": "deployment.created"})
    assert response.status_code == 200
    [event] = response.json()["results"]
    assert (event["project"], event["project_label"]) == ("manual-deployment", "Manual Deployment")
    assert event["sequence"] is None


def test_auditor_changes_nothing(api, audrey, waiting):
    response = api(audrey).post(
        f"/api/v1/releases/{waiting.release_id}/deployments/", {"environment": "manual-live"}
    )
    assert response.status_code == 403
    assert api(audrey).get(f"/api/v1/deployments/{waiting.pk}/").status_code == 200
