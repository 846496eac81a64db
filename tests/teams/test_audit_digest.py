"""Digests of the audit chain kept outside the database, and TRUNCATE refused: a trail
rewritten and chained again passes verify_audit, but not verify_audit --digest."""

import hashlib
import hmac
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from teams.audit import (
    AuditKeyMissing,
    DigestInvalid,
    DigestMismatch,
    DigestRefused,
    audit_digest,
    audit_record,
    audit_seal,
    audit_verify_digest,
    event_hash,
)
from teams.models import AuditChainHead, AuditEvent

KEY = "k" * 32
OTHER_KEY = "o" * 32

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the TRUNCATE trigger exists on PostgreSQL only (set RELMAN_TEST_DATABASE_URL)",
)


@pytest.fixture(autouse=True)
def audit_key(settings):
    settings.RELMAN_AUDIT_KEY = KEY


def _record(actor, n: int) -> None:
    for i in range(n):
        audit_record(actor=actor, action="test.happened", subject=actor, changes={"n": i})


def _take_digest() -> str:
    out = StringIO()
    call_command("audit_digest", stdout=out)
    return out.getvalue()


def _kept(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "audit-digests.txt"
    path.write_text("".join(line if line.endswith("\n") else f"{line}\n" for line in lines))
    return path


def _verify_digest(path: Path) -> str:
    out = StringIO()
    call_command("verify_audit", "--digest", str(path), stdout=out, stderr=StringIO())
    return out.getvalue()


def _verify_digest_fails(path: Path, returncode: int) -> str:
    err = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", "--digest", str(path), stdout=StringIO(), stderr=err)
    assert failure.value.returncode == returncode
    return err.getvalue()


def _sql(sql: str, params: list | tuple = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))


def _as_attacker(*statements: tuple[str, list]) -> None:
    """Runs statements as someone with the database owner's password would: on PostgreSQL
    with the append-only triggers of the events and the chain head switched off (inside
    the test's transaction, so they come back)."""
    if connection.vendor != "postgresql":
        for sql, params in statements:
            _sql(sql, params)
        return
    triggers = [
        ("teams_auditevent", "teams_auditevent_append_only"),
        ("teams_auditchainhead", "teams_auditchainhead_forward_only"),
    ]
    # ALTER TABLE refuses to run while deferred foreign-key checks on the table are pending.
    _sql("SET CONSTRAINTS ALL IMMEDIATE")
    for table, trigger in triggers:
        _sql(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    for sql, params in statements:
        _sql(sql, params)
    for table, trigger in triggers:
        _sql(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
    _sql("SET CONSTRAINTS ALL DEFERRED")


# --- taking a digest ------------------------------------------------------------------------


def test_digest_seals_waiting_events_and_signs_the_chain_head(root):
    _record(root, 3)

    line = _take_digest()

    head = AuditChainHead.objects.get()
    assert head.sequence == 3
    assert line.count("\n") == 1
    signed, _, mac = line.strip().rpartition(" hmac=")
    assert re.fullmatch(
        rf"relman-audit-digest/1 sequence=3 hash={head.hash} key_id=[0-9a-f]{{12}} at=\S+Z", signed
    )
    assert mac == hmac.new(KEY.encode(), signed.encode(), hashlib.sha256).hexdigest()


def test_digest_round_trip(root, tmp_path):
    _record(root, 3)
    kept = _kept(tmp_path, _take_digest())
    _record(root, 2)
    audit_seal()

    out = _verify_digest(kept)

    assert re.search(r"Audit digest hold: 1 checked, the last taken at \S+Z at sequence 3\.", out)
    assert "Audit chain intact: 5 events verified" in out


def test_every_digest_appended_to_the_file_is_checked(root, tmp_path):
    _record(root, 2)
    first = _take_digest()
    _record(root, 2)
    kept = _kept(tmp_path, first, "", _take_digest())

    assert [d.sequence for d in audit_verify_digest(kept.read_text())] == [2, 4]
    assert "Audit digests hold: 2 checked" in _verify_digest(kept)


def test_digest_refused_without_a_key(root, settings, tmp_path):
    _record(root, 1)
    kept = _kept(tmp_path, _take_digest())
    settings.RELMAN_AUDIT_KEY = ""
    with pytest.raises(CommandError, match="RELMAN_AUDIT_KEY is not set: audit digests are signed with it"):
        _take_digest()
    with pytest.raises(CommandError, match="RELMAN_AUDIT_KEY is not set") as failure:
        call_command("verify_audit", "--digest", str(kept), stdout=StringIO())
    assert failure.value.returncode == 3

    settings.RELMAN_AUDIT_KEY = "short"
    with pytest.raises(AuditKeyMissing, match="RELMAN_AUDIT_KEY is shorter than 32 characters"):
        audit_digest()


def test_digest_refused_while_nothing_is_sealed(db):
    with pytest.raises(DigestRefused, match="No audit event is sealed yet"):
        audit_digest()


def test_digest_refused_for_a_broken_chain(root):
    _record(root, 3)
    audit_seal()
    _as_attacker(("UPDATE teams_auditevent SET action = 'test.rewritten' WHERE sequence = 2", []))

    with pytest.raises(CommandError, match="does not verify, so it is not signed: broken at sequence 2"):
        _take_digest()


# --- checking a digest ----------------------------------------------------------------------


def test_digest_made_with_another_key_is_refused(root, settings, tmp_path):
    _record(root, 2)
    kept = _kept(tmp_path, _take_digest())
    settings.RELMAN_AUDIT_KEY = OTHER_KEY

    err = _verify_digest_fails(kept, 3)

    assert "Audit digest REFUSED: Line 1: the digest was not made with this RELMAN_AUDIT_KEY." in err


@pytest.mark.parametrize("field", ["sequence", "hash", "at"])
def test_edited_digest_is_refused(root, tmp_path, field):
    _record(root, 3)
    line = _take_digest()
    edited = {
        "sequence": lambda text: text.replace("sequence=3", "sequence=2"),
        "hash": lambda text: re.sub(r"hash=(\w)", lambda m: "hash=" + ("0" if m[1] != "0" else "1"), text),
        "at": lambda text: re.sub(r"at=\d{4}", "at=1999", text),
    }[field](line)
    assert edited != line

    err = _verify_digest_fails(_kept(tmp_path, edited), 3)

    assert "Line 1: the digest was edited after it was signed (its HMAC does not match)." in err


def test_a_line_that_is_not_a_digest_is_refused(root, tmp_path):
    _record(root, 1)
    kept = _kept(tmp_path, _take_digest(), "sequence 1 looked fine to me")

    assert "Line 2 is not an audit digest made by `manage.py audit_digest`." in _verify_digest_fails(kept, 3)
    with pytest.raises(DigestInvalid, match="holds no audit digest"):
        audit_verify_digest("\n\n")
    with pytest.raises(DigestInvalid, match="Line 1 is not an audit digest"):
        audit_verify_digest("relman-audit-digest/1 sequence=1 hash=é key_id=x at=y hmac=z")


def test_trail_cut_back_below_the_digest_is_caught(root, tmp_path):
    _record(root, 4)
    kept = _kept(tmp_path, _take_digest())
    second = AuditEvent.objects.get(sequence=2)
    _as_attacker(
        ("DELETE FROM teams_auditevent WHERE sequence > 2", []),
        ("UPDATE teams_auditchainhead SET sequence = 2, hash = %s", [second.hash]),
    )
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact: 2 events verified" in out.getvalue()

    err = _verify_digest_fails(kept, 1)

    assert "Audit trail REWRITTEN: Line 1: the digest taken at" in err
    assert "records sequence 4, which is no longer in the chain: the trail was cut back." in err


def test_trail_rewritten_and_chained_again_in_sql_passes_verify_audit_but_not_the_digest(root, tmp_path):
    _record(root, 5)
    kept = _kept(tmp_path, _take_digest())

    # The attacker changes what event 2 recorded, then recomputes every hash from there
    # (the algorithm is no secret) and writes them, and the chain head, in SQL.
    _as_attacker(("UPDATE teams_auditevent SET changes = %s WHERE sequence = 2", ['{"n": "forged"}']))
    previous = AuditEvent.objects.get(sequence=1).hash
    rechain = []
    for event in AuditEvent.objects.filter(sequence__gte=2).order_by("sequence"):
        event.previous_hash = previous
        previous = event_hash(previous, event)
        rechain.append(
            (
                "UPDATE teams_auditevent SET previous_hash = %s, hash = %s WHERE id = %s",
                [event.previous_hash, previous, event.pk],
            )
        )
    rechain.append(("UPDATE teams_auditchainhead SET hash = %s", [previous]))
    _as_attacker(*rechain)

    assert AuditEvent.objects.get(sequence=2).changes == {"n": "forged"}
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact: 5 events verified" in out.getvalue()

    err = _verify_digest_fails(kept, 1)
    last = AuditEvent.objects.get(sequence=5)
    assert f"Audit trail REWRITTEN: Line 1: sequence 5 (event id {last.pk}) now hashes to {last.hash}" in err
    assert "the trail was rewritten at or before this event and chained again." in err
    with pytest.raises(DigestMismatch):
        audit_verify_digest(kept.read_text())


# --- TRUNCATE on PostgreSQL -----------------------------------------------------------------


def _truncate_refused(sql: str, table: str) -> None:
    # TRUNCATE refuses to run while deferred foreign-key checks on the table are pending.
    _sql("SET CONSTRAINTS ALL IMMEDIATE")
    with (
        pytest.raises(IntegrityError, match=f"the audit trail is append-only: TRUNCATE of {table} refused"),
        transaction.atomic(),
    ):
        _sql(sql)
    _sql("SET CONSTRAINTS ALL DEFERRED")


@on_postgresql
def test_truncate_of_the_trail_is_refused(root):
    _record(root, 2)
    audit_seal()

    _truncate_refused("TRUNCATE teams_auditevent", "teams_auditevent")
    _truncate_refused("TRUNCATE teams_auditchainhead", "teams_auditchainhead")
    _truncate_refused("TRUNCATE teams_user CASCADE", "teams_auditevent")

    assert AuditEvent.objects.count() == 2
    assert AuditChainHead.objects.get().sequence == 2


@on_postgresql
def test_maintenance_setting_lets_a_database_owner_truncate(root):
    _record(root, 2)
    audit_seal()
    _sql("SET CONSTRAINTS ALL IMMEDIATE")

    _sql("SET LOCAL relman.audit_maintenance = 'on'")
    _sql("TRUNCATE teams_auditevent, teams_auditchainhead")

    assert not AuditEvent.objects.exists()
    assert not AuditChainHead.objects.exists()
