"""The audit trail's hash chain (SPEC §5), and who may read the trail.

Writers record events unchained (``teams.services.audit_record``), inside the transaction
of the change they describe, and never wait for one another. The sealer (``audit_seal``,
run by Celery beat every RELMAN_AUDIT_SEAL_SECONDS) then chains the committed events in
id order: under a lock on the single ``AuditChainHead`` row it gives each the next
``sequence`` and sets ``previous_hash`` and ``hash = sha256(previous_hash + canonical
JSON of the event)``. Chain order is sealing order: an event whose transaction commits
late, with a lower id, is simply sealed later, so the sequence has no gaps.

``audit_verify`` walks the chain by sequence, recomputes every hash, compares the end
with the chain head and reports the first break, and the events left unsealed too long.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from teams.choices import Role
from teams.models import AuditChainHead, AuditEvent
from teams.scoping import grants_for

if TYPE_CHECKING:
    from teams.models import User

# The fields a hash covers, in the canonical serialisation (keys sorted). ``id`` and
# ``sequence`` are included, so moving an event in the chain breaks it too.
HASHED_FIELDS = (
    "id",
    "sequence",
    "timestamp",
    "actor_id",
    "actor_label",
    "action",
    "subject_type",
    "subject_id",
    "project_id",
    "project_label",
    "environment_id",
    "environment_label",
    "source_ip",
    "changes",
)

# Events sealed per transaction: the chain head stays locked for one batch at a time.
SEAL_BATCH_SIZE = 500
# verify_audit reports events recorded longer ago than this and still not chained.
UNSEALED_GRACE = timedelta(minutes=1)


class SealRefused(Exception):
    """An unsealed event could not be sealed: something other than the sealer wrote its
    seal fields."""


# --- the chain ------------------------------------------------------------------------------


def canonical_json(event: AuditEvent) -> str:
    """The event's recorded fields as one canonical JSON text: keys sorted, no spaces,
    the timestamp in UTC with microseconds. It is computed from the values as read back
    from the database, by the sealer and by verify_audit alike."""
    values = {}
    for name in HASHED_FIELDS:
        value = getattr(event, name)
        if name == "timestamp":
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        values[name] = value
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def event_hash(previous_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((previous_hash + canonical_json(event)).encode()).hexdigest()


def _locked_head() -> AuditChainHead:
    """The chain head, locked FOR UPDATE until the transaction ends; created on first use
    (two sealers creating it at once cannot both succeed: the insert ignores conflicts)."""
    heads = AuditChainHead.objects.select_for_update()
    head = heads.filter(pk=AuditChainHead.SINGLETON_ID).first()
    if head is None:
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(pk=AuditChainHead.SINGLETON_ID)], ignore_conflicts=True
        )
        head = heads.get(pk=AuditChainHead.SINGLETON_ID)
    return head


def audit_seal(*, batch_size: int = SEAL_BATCH_SIZE) -> int:
    """Chains every committed event not chained yet, oldest id first, and returns how
    many it sealed.

    Guarantees: each event gets the next sequence (no gaps, no duplicates) and a hash
    over its previous event's hash and its own fields; the chain head moves with it in
    the same transaction. Only sealers take the chain head's lock, so writers never wait;
    two sealers at once take turns, and running it twice seals nothing twice.

    An event that carries a hash without a sequence was not sealed by a sealer: it is
    left out of the chain (verify_audit reports it). ``SealRefused`` (the batch rolls
    back) means an event changed under the sealer's feet.
    """
    sealed = 0
    while True:
        with transaction.atomic():
            head = _locked_head()
            unsealed = AuditEvent.objects.filter(sequence__isnull=True, hash="", previous_hash="")
            batch = list(unsealed.order_by("id")[:batch_size])
            if batch:
                _seal_batch(head, batch)
        sealed += len(batch)
        if len(batch) < batch_size:
            return sealed


def _seal_batch(head: AuditChainHead, batch: list[AuditEvent]) -> None:
    seals = {}
    sequence, previous = head.sequence, head.hash
    for event in batch:
        sequence += 1
        event.sequence = sequence
        digest = event_hash(previous, event)
        seals[event.pk] = (sequence, previous, digest)
        previous = digest
    # One conditional statement for the whole batch: it seals only rows still unsealed.
    # (Expressed through the ORM, as a CASE per field and row, building it costs more
    # than sealing; the VALUES list is the same on PostgreSQL and SQLite.)
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(seals))
    params = [value for pk, seal in seals.items() for value in (pk, *seal)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET sequence = v.column2, previous_hash = v.column3, hash = v.column4 "
            f"FROM (VALUES {rows}) AS v WHERE {table}.id = v.column1 "
            f"AND {table}.sequence IS NULL AND {table}.hash = ''",
            params,
        )
        updated = cursor.rowcount
    if updated != len(batch):
        raise SealRefused(
            f"Only {updated} of {len(batch)} audit events could be sealed: an event in ids "
            f"{batch[0].pk}..{batch[-1].pk} has a seal the sealer did not write."
        )
    head.sequence, head.hash, head.sealed_at = sequence, previous, timezone.now()
    head.save(update_fields=["sequence", "hash", "sealed_at"])


@dataclass(frozen=True)
class ChainBreak:
    """Where the chain first stops holding, and what differs there."""

    sequence: int | None
    event_id: int | None
    problem: str

    def __str__(self) -> str:
        where = []
        if self.sequence is not None:
            where.append(f"sequence {self.sequence}")
        if self.event_id is not None:
            where.append(f"event id {self.event_id}")
        return f"{', '.join(where) or 'chain head'}: {self.problem}"


@dataclass
class AuditReport:
    checked: int = 0
    head_sequence: int = 0
    head_hash: str = ""
    first_break: ChainBreak | None = None
    unsealed: int = 0
    stale_unsealed: int = 0
    oldest_stale: AuditEvent | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.first_break is None and not self.stale_unsealed


def audit_verify(*, unsealed_grace: timedelta = UNSEALED_GRACE) -> AuditReport:
    """Recomputes the whole chain in sequence order and reports the first break: a
    missing sequence (an event deleted), a ``previous_hash`` that is not the hash of the
    event before (events re-linked or reordered), a hash that does not match the event's
    fields (an event changed), an end that is not the chain head (events cut from the
    end), or a seal on an event outside the chain. Also counts the events still unsealed,
    and those unsealed for longer than ``unsealed_grace`` (the sealer is not running)."""
    report = AuditReport()
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).first()
    if head is not None:
        report.head_sequence, report.head_hash = head.sequence, head.hash
    report.first_break = _walk(report)
    if report.first_break is None:
        report.first_break = _check_end(report, head)
    if report.first_break is None:
        stray = AuditEvent.objects.filter(sequence__isnull=True).exclude(hash="", previous_hash="").first()
        if stray is not None:
            report.first_break = ChainBreak(
                None, stray.pk, "the event carries a hash but has no place in the chain"
            )
    unsealed = AuditEvent.objects.filter(sequence__isnull=True)
    report.unsealed = unsealed.count()
    stale = unsealed.filter(timestamp__lt=timezone.now() - unsealed_grace)
    report.stale_unsealed = stale.count()
    report.oldest_stale = stale.order_by("id").first()
    return report


def _walk(report: AuditReport) -> ChainBreak | None:
    previous = ""
    expected = 1
    events = AuditEvent.objects.filter(sequence__isnull=False).order_by("sequence")
    for event in events.iterator(chunk_size=2000):
        if event.sequence != expected:
            return ChainBreak(
                event.sequence,
                event.pk,
                f"sequence {expected} is missing: the chain goes from {expected - 1} to {event.sequence} "
                "(an event was deleted)",
            )
        if event.previous_hash != previous:
            return ChainBreak(
                event.sequence,
                event.pk,
                f"previous_hash is {event.previous_hash or '(empty)'} but the event before hashes to "
                f"{previous or '(empty)'} (the chain was re-linked here)",
            )
        recomputed = event_hash(previous, event)
        if recomputed != event.hash:
            return ChainBreak(
                event.sequence,
                event.pk,
                f"stored hash {event.hash} but its fields hash to {recomputed} "
                "(the event was changed after it was sealed)",
            )
        report.checked += 1
        previous = event.hash
        expected += 1
    return None


def _check_end(report: AuditReport, head: AuditChainHead | None) -> ChainBreak | None:
    last_sequence = report.checked
    last_hash = (
        AuditEvent.objects.filter(sequence=last_sequence).values_list("hash", flat=True).first()
        if last_sequence
        else ""
    )
    if head is None:
        if last_sequence:
            return ChainBreak(
                None, None, f"the chain head is missing, but events are sealed up to {last_sequence}"
            )
        return None
    if head.sequence != last_sequence or head.hash != last_hash:
        return ChainBreak(
            head.sequence,
            None,
            f"the chain head records sequence {head.sequence} (hash {head.hash or '(empty)'}) but the chain "
            f"ends at {last_sequence} (hash {last_hash or '(empty)'}): events were removed from the end",
        )
    return None


# --- who may read the trail -----------------------------------------------------------------


def can_read_audit_trail(user: User) -> bool:
    """Superusers, and members of a team holding the auditor role (in any scope)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or any(grant.allows(Role.AUDITOR) for grant in grants_for(user))


def audit_events_visible_to(user: User) -> QuerySet[AuditEvent]:
    """The events the user may read: all for a superuser or an auditor without scope;
    for a scoped auditor, the events of the projects in scope (an environment scope
    further restricts events that name an environment). Nobody else reads any."""
    events = AuditEvent.objects.all()
    if not user.is_authenticated or not user.is_active:
        return events.none()
    if user.is_superuser:
        return events
    visible = Q(pk__in=[])
    for grant in grants_for(user):
        if not grant.allows(Role.AUDITOR):
            continue
        covered = Q()
        if grant.group_ids or grant.project_ids:
            covered = Q(project__group__in=grant.group_ids) | Q(project__in=grant.project_ids)
        if grant.environment_ids:
            covered &= Q(environment__isnull=True) | Q(environment__in=grant.environment_ids)
        if not covered:
            return events
        visible |= covered
    return events.filter(visible)
