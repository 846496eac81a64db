"""The audit trail's hash chain (SPEC §5), and who may read the trail.

Writers record events unchained (``audit_record``), inside the transaction
of the change they describe, and never wait for one another. The sealer (``audit_seal``,
run by Celery beat every RELMAN_AUDIT_SEAL_SECONDS) then chains the committed events in
id order: under a lock on the single ``AuditChainHead`` row it gives each the next
``sequence`` and sets ``previous_hash`` and ``hash = sha256(previous_hash + canonical
JSON of the event)``. Chain order is sealing order: an event whose transaction commits
late, with a lower id, is simply sealed later, so the sequence has no gaps.

``audit_verify`` walks the chain by sequence, recomputes every hash, compares the end
with the chain head and reports the first break, and the events left unsealed too long.

The chain alone cannot show a trail rewritten by someone with the database password and
then chained again from the changed event on: every hash would agree. ``audit_digest``
therefore signs the chain head with RELMAN_AUDIT_KEY (HMAC-SHA256) in one line that the
operator keeps outside the database, and ``audit_verify_digest`` checks that the event
at that sequence still has that hash: a rewrite at or before it changes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from teams.choices import Role
from teams.models import AuditChainHead, AuditEvent
from teams.scoping import grants_for

if TYPE_CHECKING:
    from lifecycles.models import Environment
    from processes.models import Project
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


# --- recording ---------------------------------------------------------------------------


def audit_record(
    *,
    actor: User | None,
    action: str,
    subject: models.Model,
    project: Project | None = None,
    environment: Environment | None = None,
    changes: dict[str, Any] | None = None,
    source_ip: str | None = None,
) -> AuditEvent:
    """Appends one event; call it inside the transaction that makes the change, so the
    event exists exactly when the change does."""
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=actor.username if actor else "system",
        action=action,
        subject_type=subject._meta.label_lower,
        subject_id=str(subject.pk),
        project=project,
        project_label=project.name if project else "",
        environment=environment,
        environment_label=environment.name if environment else "",
        source_ip=source_ip,
        changes=_jsonable(changes or {}),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


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


# --- digests kept outside the database -----------------------------------------------------

DIGEST_FORMAT = "relman-audit-digest/1"
DIGEST_FIELDS = ("sequence", "hash", "key_id", "at", "hmac")
AUDIT_KEY_MIN_LENGTH = 32


class AuditKeyMissing(Exception):
    """RELMAN_AUDIT_KEY is not set, or too short to sign with."""


class DigestRefused(Exception):
    """No digest was taken: there is no sealed event yet, or the chain does not verify
    (signing it would vouch for a break)."""


class DigestInvalid(Exception):
    """A kept digest cannot be trusted: it is not a digest line, was made with another
    RELMAN_AUDIT_KEY, or was edited."""


class DigestMismatch(Exception):
    """The chain no longer holds what a kept digest recorded: the trail was rewritten
    (and perhaps chained again) or cut back."""


@dataclass(frozen=True)
class Digest:
    sequence: int
    hash: str
    taken_at: str


def _audit_key(key: str | None) -> bytes:
    key = settings.RELMAN_AUDIT_KEY if key is None else key
    if len(key) < AUDIT_KEY_MIN_LENGTH:
        problem = "is not set" if not key else f"is shorter than {AUDIT_KEY_MIN_LENGTH} characters"
        raise AuditKeyMissing(
            f"RELMAN_AUDIT_KEY {problem}: audit digests are signed with it. Generate one with "
            "python -c 'import secrets; print(secrets.token_hex(32))' and keep a copy apart from the database."
        )
    return key.encode()


def _sign(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _key_id(key: bytes) -> str:
    # Names the key without revealing it, so a digest checked with another key says so
    # rather than looking edited.
    return _sign(key, "relman-audit-key-id")[:12]


def audit_digest(*, key: str | None = None) -> str:
    """Seals the events waiting for the sealer, verifies the chain and returns one line
    to keep outside the database: the chain head's sequence and hash, when it was taken,
    which key signed it, and an HMAC-SHA256 over all of it with RELMAN_AUDIT_KEY.

    Refuses (``AuditKeyMissing``) without a key, and (``DigestRefused``) when nothing is
    sealed yet or the chain does not verify. The chain head stays locked while the chain
    is verified and signed, so the head signed is the end verified; writers never wait.
    """
    secret = _audit_key(key)
    audit_seal()
    with transaction.atomic():
        _locked_head()
        report = audit_verify()
    if report.first_break is not None:
        raise DigestRefused(
            f"The audit chain does not verify, so it is not signed: broken at {report.first_break}."
        )
    if not report.head_sequence:
        raise DigestRefused("No audit event is sealed yet: there is nothing to sign.")
    taken_at = timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signed = (
        f"{DIGEST_FORMAT} sequence={report.head_sequence} hash={report.head_hash} "
        f"key_id={_key_id(secret)} at={taken_at}"
    )
    return f"{signed} hmac={_sign(secret, signed)}"


def audit_verify_digest(kept: str, *, key: str | None = None) -> list[Digest]:
    """Checks the chain against kept digests: ``kept`` is the text of a digest file, one
    digest a line (an operator may append one a day). Returns the digests, in order, once
    every one holds; ``audit_verify`` then checks the chain itself.

    Each line must be signed with this RELMAN_AUDIT_KEY (``DigestInvalid`` otherwise,
    naming the line), and the event at its sequence must still have its hash
    (``DigestMismatch``: an event at or before it was changed and the chain re-computed,
    or the chain was cut back). The first problem found is raised.
    """
    secret = _audit_key(key)
    lines = [(number, line.strip()) for number, line in enumerate(kept.splitlines(), 1) if line.strip()]
    if not lines:
        raise DigestInvalid("The file holds no audit digest.")
    checked = [(number, _checked_digest(secret, number, line)) for number, line in lines]
    for number, digest in checked:
        _compare_with_chain(number, digest)
    return [digest for _, digest in checked]


def _checked_digest(secret: bytes, number: int, line: str) -> Digest:
    head, *pairs = line.split(" ")
    fields = dict(pair.partition("=")[::2] for pair in pairs)
    well_formed = line.isascii() and head == DIGEST_FORMAT and tuple(fields) == DIGEST_FIELDS
    if not well_formed or not fields["sequence"].isdigit():
        raise DigestInvalid(f"Line {number} is not an audit digest made by `manage.py audit_digest`.")
    if not hmac.compare_digest(fields["key_id"], _key_id(secret)):
        raise DigestInvalid(f"Line {number}: the digest was not made with this RELMAN_AUDIT_KEY.")
    signed = line.rpartition(" hmac=")[0]
    if not hmac.compare_digest(fields["hmac"], _sign(secret, signed)):
        raise DigestInvalid(
            f"Line {number}: the digest was edited after it was signed (its HMAC does not match)."
        )
    return Digest(sequence=int(fields["sequence"]), hash=fields["hash"], taken_at=fields["at"])


def _compare_with_chain(number: int, digest: Digest) -> None:
    event = AuditEvent.objects.filter(sequence=digest.sequence).only("id", "hash").first()
    if event is None:
        raise DigestMismatch(
            f"Line {number}: the digest taken at {digest.taken_at} records sequence {digest.sequence}, which is "
            "no longer in the chain: the trail was cut back."
        )
    if event.hash != digest.hash:
        raise DigestMismatch(
            f"Line {number}: sequence {digest.sequence} (event id {event.pk}) now hashes to {event.hash}, but the "
            f"digest taken at {digest.taken_at} recorded {digest.hash}: the trail was rewritten at or before "
            "this event and chained again."
        )


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
