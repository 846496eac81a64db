"""A release's evidence report: every deployment and step, who took and submitted each
intervention, notes and times; as a page and as JSON, for those who may see the release."""

import pytest
from django.urls import reverse

from releases.models import Interruption
from releases.services import deployment_cancel, interruption_submit, interruption_take
from teams.audit import audit_seal
from teams.models import AuditEvent, Team, User


@pytest.fixture
def dora(octopus):
    user = User.objects.create_user("dora", display_name="Dora")
    Team.objects.get(name="DBA Team").members.add(user)
    return user


@pytest.fixture
def worked(waiting, backup, sarah, dora, root, engine):
    """Backup taken by sarah, taken over and proceeded by dora with notes; the upgrade
    overridden by root with a reason and aborted."""
    with engine():
        interruption_take(interruption=backup, actor=sarah, source_ip="10.0.0.21")
        interruption_take(interruption=backup, actor=dora, take_over=True, source_ip="10.0.0.22")
        interruption_submit(
            interruption=backup, actor=dora, result="proceed", notes="Backup **#4711** verified."
        )
    upgrade = Interruption.objects.get(deployment=waiting, pending=True)
    with engine():
        interruption_take(interruption=upgrade, actor=root, override=True, reason="DBA team unreachable")
        interruption_submit(interruption=upgrade, actor=root, result="abort", notes="Upgrade script missing.")
    audit_seal()
    waiting.refresh_from_db()
    return waiting


def _url(deployment, **query):
    url = reverse("releases:release_evidence", args=[deployment.release_id])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_json_lists_every_step_and_who_took_and_submitted_each_intervention(signed_in, audrey, worked, dora):
    response = signed_in(audrey).get(_url(worked, format="json"))

    assert response.status_code == 200
    report = response.json()
    assert report["release"]["version"] == "1.0.0"
    assert report["release"]["project"] == "manual-deployment"
    [deployment] = report["deployments"]
    assert deployment["environment"] == "manual-test"
    assert deployment["state"] == "failed"
    assert deployment["created_by"]["username"] == "root"
    assert [s["position"] for s in deployment["steps"]] == list(range(1, 9))

    backup = deployment["steps"][0]["interventions"][0]
    assert backup["title"] == "Backup the database"
    assert backup["responsible_teams"] == ["DBA Team"]
    assert [(t["by"], t["from"]) for t in backup["taken"]] == [("sarah", None), ("dora", "sarah")]
    assert backup["taken"][1]["audit_event"]["source_ip"] == "10.0.0.22"
    assert backup["submitted_by"] == {"username": "dora", "name": "Dora"}
    assert backup["result"] == "proceed"
    assert backup["notes"] == "Backup **#4711** verified."
    assert backup["submitted_at"] and backup["created_at"] and backup["taken_at"]
    submission = backup["submission_audit_event"]
    event = AuditEvent.objects.get(pk=submission["id"])
    assert (submission["sequence"], submission["hash"]) == (event.sequence, event.hash)

    upgrade = deployment["steps"][1]["interventions"][0]
    assert upgrade["taken"][0]["override_reason"] == "DBA team unreachable"
    assert (upgrade["submitted_by"]["username"], upgrade["result"]) == ("root", "abort")
    assert deployment["steps"][1]["state"] == "aborted"
    assert deployment["steps"][2]["interventions"] == []
    assert report["audit"]["events"] == report["audit"]["sealed"] > 0


def test_page_shows_the_same_for_printing(signed_in, sarah, worked):
    response = signed_in(sarah).get(_url(worked))

    assert response.status_code == 200
    page = response.content.decode()
    for text in (
        "Backup the database",
        "Dora",
        "Sarah",
        "took over from",
        "DBA team unreachable",
        "<strong>#4711</strong>",
        "Upgrade script missing.",
        "Manual Test",
    ):
        assert text in page, text
    assert "<script>" not in page


def test_cancelled_intervention_shows_it_was_closed_unanswered(signed_in, root, waiting, backup):
    deployment_cancel(deployment=waiting, actor=root)
    report = signed_in(root).get(_url(waiting, format="json")).json()
    closed = report["deployments"][0]["steps"][0]["interventions"][0]
    assert closed["pending"] is False and closed["submitted_by"] is None
    assert closed["notes"] == "Cancelled by Root."
    assert [e["action"] for e in report["deployments"][0]["audit_events"]] == [
        "deployment.created",
        "deployment.cancelled",
    ]


def test_outsider_gets_404(signed_in, oscar, worked):
    assert signed_in(oscar).get(_url(worked)).status_code == 404
    assert signed_in(oscar).get(_url(worked, format="json")).status_code == 404


def test_scoped_auditor_of_another_project_gets_404(signed_in, scott, worked):
    assert signed_in(scott).get(_url(worked)).status_code == 404


def test_report_reads_in_a_constant_number_of_queries(
    signed_in, root, worked, octopus, engine, django_assert_max_num_queries
):
    from releases.services import deployment_create

    client = signed_in(root)
    client.get(_url(worked, format="json"))
    with django_assert_max_num_queries(14):
        client.get(_url(worked, format="json"))
    with engine():
        deployment_create(release=worked.release, environment=octopus.environments[0], actor=root)
    with django_assert_max_num_queries(14):
        client.get(_url(worked, format="json"))
