"""The audit trail is append-only and tamper-evident: events are recorded unchained, the
sealer chains them, verify_audit recomputes the chain and reports the first break."""

import os
import subprocess
import sys
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from lifecycles.models import Environment
from processes.models import Project, ProjectGroup
from teams.audit import audit_record, audit_seal, audit_verify, canonical_json, event_hash
from teams.models import AppendOnlyViolation, AuditChainHead, AuditEvent
from teams.tasks import audit_seal_task

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the append-only trigger exists on PostgreSQL only (set RELMAN_TEST_DATABASE_URL)",
)


def _record(actor, n: int = 1, **kwargs) -> list[AuditEvent]:
    return [
        audit_record(actor=actor, action="test.happened", subject=actor, changes={"n": i}, **kwargs)
        for i in range(n)
    ]


def _verify() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("verify_audit", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _verify_fails(returncode: int) -> str:
    err = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", stdout=StringIO(), stderr=err)
    assert failure.value.returncode == returncode
    return err.getvalue()


# --- sealing --------------------------------------------------------------------------------


def test_events_are_recorded_unchained_and_sealed_in_id_order(root):
    events = _record(root, 3)
    assert all(e.sequence is None and e.hash == "" for e in events)

    assert audit_seal() == 3

    sealed = list(AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("id"))
    assert [e.sequence for e in sealed] == [1, 2, 3]
    assert sealed[0].previous_hash == ""
    assert sealed[1].previous_hash == sealed[0].hash
    assert sealed[2].previous_hash == sealed[1].hash
    assert sealed[2].hash == event_hash(sealed[1].hash, sealed[2])
    head = AuditChainHead.objects.get()
    assert (head.sequence, head.hash) == (3, sealed[2].hash)


def test_sealing_again_seals_nothing_twice(root):
    _record(root, 2)
    assert audit_seal() == 2
    assert audit_seal() == 0
    _record(root)
    assert audit_seal() == 1
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == [1, 2, 3]


def test_sealer_works_in_batches(root):
    _record(root, 7)
    assert audit_seal(batch_size=3) == 7
    assert audit_verify().ok


def test_event_committed_late_with_a_lower_id_is_sealed_later_without_a_gap(root):
    # Two writers: the one that got id 500 commits after the one that got ids 1000-1001.
    AuditEvent.objects.create(
        id=1000, actor_label="a", action="first.committed", subject_type="x", subject_id="1"
    )
    AuditEvent.objects.create(
        id=1001, actor_label="a", action="first.committed", subject_type="x", subject_id="2"
    )
    audit_seal()
    AuditEvent.objects.create(
        id=500, actor_label="b", action="late.committed", subject_type="x", subject_id="3"
    )
    audit_seal()

    assert dict(AuditEvent.objects.values_list("id", "sequence")) == {1000: 1, 1001: 2, 500: 3}
    assert audit_verify().ok


def test_seal_task_seals(root):
    _record(root, 2)
    assert audit_seal_task.delay().get() == 2


def test_beat_runs_the_sealer_every_few_seconds():
    entries = [
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "teams.tasks.audit_seal_task"
    ]
    assert len(entries) == 1
    assert entries[0]["schedule"] == float(settings.RELMAN_AUDIT_SEAL_SECONDS) == 5.0


def test_hash_covers_every_recorded_field(root, octopus):
    [event] = _record(
        root, project=octopus.project, environment=octopus.environments[0], source_ip="10.0.0.7"
    )
    audit_seal()
    event.refresh_from_db()
    text = canonical_json(event)
    for expected in ('"action":"test.happened"', '"actor_label":"root"', '"changes":{"n":0}'):
        assert expected in text
    assert '"project_label":"Manual Deployment"' in text
    assert '"environment_label":"Manual Test"' in text
    assert '"source_ip":"10.0.0.7"' in text
    assert f'"sequence":{event.sequence}' in text


# --- verify_audit ---------------------------------------------------------------------------


def test_verify_reports_an_intact_chain(root):
    _record(root, 3)
    out, _ = _verify()
    assert "Audit chain intact: 0 events verified." in out
    assert "3 recent events wait for the sealer." in out

    audit_seal()
    out, _ = _verify()
    head = AuditChainHead.objects.get()
    assert f"Audit chain intact: 3 events verified, head at sequence 3 (hash {head.hash})." in out


def test_verify_with_seal_seals_first(root):
    _record(root, 2)
    out = StringIO()
    call_command("verify_audit", "--seal", stdout=out)
    assert "Sealed 2 waiting events." in out.getvalue()
    assert "2 events verified" in out.getvalue()


def test_changed_event_is_the_first_break(root, tamper):
    events = _record(root, 5)
    audit_seal()
    tamper("UPDATE teams_auditevent SET actor_label = %s WHERE id = %s", ["someone-else", events[2].pk])
    tamper("UPDATE teams_auditevent SET action = %s WHERE id = %s", ["test.rewritten", events[3].pk])

    report = audit_verify()
    assert not report.ok
    assert (report.first_break.sequence, report.first_break.event_id) == (3, events[2].pk)
    assert report.checked == 2
    err = _verify_fails(1)
    assert f"Audit chain BROKEN at sequence 3, event id {events[2].pk}: stored hash" in err
    assert "(the event was changed after it was sealed)" in err
    assert "2 events before it verified; nothing after it was checked." in err


def test_changed_event_with_recomputed_hash_breaks_the_link_to_the_next(root, tamper):
    events = _record(root, 3)
    audit_seal()
    changed = AuditEvent.objects.get(pk=events[1].pk)
    changed.action = "test.rewritten"
    forged = event_hash(changed.previous_hash, changed)
    tamper(
        "UPDATE teams_auditevent SET action = %s, hash = %s WHERE id = %s",
        [changed.action, forged, changed.pk],
    )

    report = audit_verify()
    assert (report.first_break.sequence, report.first_break.event_id) == (3, events[2].pk)
    assert "the chain was re-linked here" in report.first_break.problem


def test_deleted_event_is_a_gap(root, tamper):
    events = _record(root, 4)
    audit_seal()
    tamper("DELETE FROM teams_auditevent WHERE id = %s", [events[1].pk])

    report = audit_verify()
    assert (report.first_break.sequence, report.first_break.event_id) == (3, events[2].pk)
    assert "sequence 2 is missing" in report.first_break.problem
    assert "sequence 2 is missing" in _verify_fails(1)


def test_events_cut_from_the_end_disagree_with_the_head(root, tamper):
    events = _record(root, 4)
    audit_seal()
    tamper("DELETE FROM teams_auditevent WHERE id IN (%s, %s)", [events[2].pk, events[3].pk])

    report = audit_verify()
    assert report.checked == 2
    assert "the chain head records sequence 4" in report.first_break.problem
    assert "events were removed from the end" in _verify_fails(1)


def test_event_forged_with_a_seal_outside_the_chain_is_reported(root, tamper):
    [event] = _record(root)
    tamper("UPDATE teams_auditevent SET hash = %s WHERE id = %s", ["0" * 64, event.pk])

    report = audit_verify()
    assert report.first_break.event_id == event.pk
    assert "no place in the chain" in report.first_break.problem

    # The forgery stays out of the chain; later events are still sealed.
    _record(root, 2)
    assert audit_seal() == 2
    assert AuditEvent.objects.get(pk=event.pk).sequence is None


def test_events_left_unsealed_for_over_a_minute_fail_verification(root):
    audit_record(actor=root, action="test.recent", subject=root)
    assert audit_verify().ok
    old = AuditEvent.objects.create(
        timestamp=timezone.now() - timedelta(minutes=2),
        actor_label="root",
        action="test.old",
        subject_type="x",
        subject_id="1",
    )

    err = _verify_fails(2)
    assert f"1 event recorded more than 60 seconds ago is still unsealed (oldest: event id {old.pk}" in err

    audit_seal()
    out, _ = _verify()
    assert "2 events verified" in out


# --- append-only in the application ---------------------------------------------------------


def test_recorded_event_cannot_be_saved_again_or_deleted(root):
    [event] = _record(root)
    event.action = "test.changed"
    with pytest.raises(AppendOnlyViolation):
        event.save()
    with pytest.raises(AppendOnlyViolation):
        event.delete()
    with pytest.raises(AppendOnlyViolation):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AppendOnlyViolation):
        AuditEvent.objects.filter(pk=event.pk).update(action="test.changed")
    assert AuditEvent.objects.get(pk=event.pk).action == "test.happened"


def test_event_cannot_be_recorded_already_sealed(root):
    with pytest.raises(AppendOnlyViolation):
        AuditEvent.objects.create(
            actor_label="x", action="x", subject_type="x", subject_id="1", hash="f" * 64
        )


def test_sealed_event_keeps_its_seal(root):
    [event] = _record(root)
    audit_seal()
    sealed = AuditEvent.objects.get(pk=event.pk)
    assert AuditEvent.objects.filter(pk=event.pk).update(hash="0" * 64, sequence=99) == 0
    assert AuditEvent.objects.get(pk=event.pk).hash == sealed.hash


def test_deleting_a_project_and_an_environment_leaves_the_trail_untouched(root, octopus):
    environment = Environment.objects.create(name="Scratch", slug="scratch")
    project = Project.objects.create(
        name="Scratch Project",
        slug="scratch-project",
        group=ProjectGroup.default(),
        lifecycle=octopus.project.lifecycle,
    )
    [event] = _record(root, project=project, environment=environment)
    audit_seal()
    ids = (project.pk, environment.pk)

    project.delete()
    environment.delete()

    event = AuditEvent.objects.select_related("project", "environment").get(pk=event.pk)
    assert (event.project_id, event.environment_id) == ids
    assert (event.project, event.environment) == (None, None)
    assert (event.project_label, event.environment_label) == ("Scratch Project", "Scratch")
    assert audit_verify().ok


# --- append-only in PostgreSQL --------------------------------------------------------------


@on_postgresql
def test_trigger_refuses_update_of_a_sealed_event(root, raw_sql):
    [event] = _record(root)
    audit_seal()
    with pytest.raises(IntegrityError, match="is sealed and cannot change"), transaction.atomic():
        raw_sql("UPDATE teams_auditevent SET action = 'x' WHERE id = %s", [event.pk])
    with pytest.raises(IntegrityError, match="is sealed and cannot change"), transaction.atomic():
        raw_sql("UPDATE teams_auditevent SET hash = %s WHERE id = %s", ["0" * 64, event.pk])


@on_postgresql
def test_trigger_refuses_delete(root, raw_sql):
    _record(root, 2)
    audit_seal()
    AuditEvent.objects.create(actor_label="x", action="x", subject_type="x", subject_id="1")  # unsealed
    for event in AuditEvent.objects.all():
        with pytest.raises(IntegrityError, match="DELETE of event"), transaction.atomic():
            raw_sql("DELETE FROM teams_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.count() == 3


@on_postgresql
def test_trigger_allows_only_sealing_an_unsealed_event(root, raw_sql):
    [event] = _record(root)
    with pytest.raises(IntegrityError, match="only the seal of event"), transaction.atomic():
        raw_sql(
            "UPDATE teams_auditevent SET action = 'x', sequence = 1, hash = %s WHERE id = %s",
            ["a" * 64, event.pk],
        )
    with pytest.raises(IntegrityError, match="needs both a sequence and a hash"), transaction.atomic():
        raw_sql("UPDATE teams_auditevent SET previous_hash = 'x' WHERE id = %s", [event.pk])
    with pytest.raises(IntegrityError, match="recorded unchained"), transaction.atomic():
        raw_sql(
            "INSERT INTO teams_auditevent (timestamp, actor_label, action, subject_type, subject_id, changes,"
            " project_label, environment_label, previous_hash, hash, sequence)"
            " VALUES (now(), 'x', 'x', 'x', '1', '{}', '', '', '', %s, 7)",
            ["b" * 64],
        )
    assert audit_seal() == 1


@on_postgresql
def test_trigger_keeps_the_chain_head_moving_forward(root, raw_sql):
    _record(root, 2)
    audit_seal()
    with pytest.raises(IntegrityError, match="only moves forward"), transaction.atomic():
        raw_sql("UPDATE teams_auditchainhead SET sequence = 1")
    with pytest.raises(IntegrityError, match="cannot be deleted"), transaction.atomic():
        raw_sql("DELETE FROM teams_auditchainhead")


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_sealers_at_once_take_turns(root):
    _record(root, 200)
    results: list[int] = []
    start = threading.Barrier(2)

    def seal() -> None:
        try:
            start.wait()
            results.append(audit_seal(batch_size=25))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=seal) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(results) == 200
    assert sorted(AuditEvent.objects.values_list("sequence", flat=True)) == list(range(1, 201))
    assert audit_verify().ok


# --- the command, as a process --------------------------------------------------------------


def test_verify_audit_exit_status_in_a_real_process(tmp_path):
    env = {name: value for name, value in os.environ.items() if not name.startswith(("RELMAN_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="relman.settings",
        RELMAN_DEBUG="1",
        RELMAN_VAR_DIR=str(tmp_path),
        RELMAN_DATABASE_URL=f"sqlite:///{tmp_path / 'audit.sqlite3'}",
    )

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert manage("migrate", "--noinput").returncode == 0
    record = (
        "from teams.audit import audit_record; from teams.models import User; "
        "u = User.objects.create_user('auditee'); "
        "[audit_record(actor=u, action='test.happened', subject=u) for _ in range(3)]"
    )
    assert manage("shell", "-c", record).returncode == 0
    sealed = manage("verify_audit", "--seal")
    assert sealed.returncode == 0, sealed.stderr
    assert "3 events verified" in sealed.stdout

    tamper = (
        "from django.db import connection; "
        "connection.cursor().execute(\"UPDATE teams_auditevent SET actor_label = 'x' WHERE sequence = 2\")"
    )
    assert manage("shell", "-c", tamper).returncode == 0
    broken = manage("verify_audit")
    assert broken.returncode == 1
    assert "Audit chain BROKEN at sequence 2" in broken.stderr
