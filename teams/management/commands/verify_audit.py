from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from teams.audit import (
    UNSEALED_GRACE,
    AuditKeyMissing,
    DigestInvalid,
    DigestMismatch,
    audit_seal,
    audit_verify,
    audit_verify_digest,
)

# Exit statuses, so a monitoring job can tell them apart.
EXIT_BROKEN = 1
EXIT_UNSEALED = 2
EXIT_DIGEST_INVALID = 3


class Command(BaseCommand):
    help = (
        "Recomputes the audit trail's hash chain and reports the first break (sequence, event id, "
        f"what differs). Exits {EXIT_BROKEN} on a break, {EXIT_UNSEALED} when events recorded more than "
        f"{int(UNSEALED_GRACE.total_seconds())} seconds ago are still unsealed (the sealer is not "
        f"running), 0 when the chain holds. With --digest FILE it first checks the digests kept by "
        f"audit_digest: exit {EXIT_DIGEST_INVALID} when one was not signed with this RELMAN_AUDIT_KEY or was "
        f"edited, {EXIT_BROKEN} when the chain no longer holds what one recorded."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--seal",
            action="store_true",
            help="Chain the events waiting for the sealer first (as the periodic sealer would).",
        )
        parser.add_argument(
            "--digest",
            type=Path,
            metavar="FILE",
            help="A file of digests printed by audit_digest, one a line: each must be signed with "
            "RELMAN_AUDIT_KEY and its event must still have its hash.",
        )

    def handle(self, *args, seal: bool, digest: Path | None, **options):
        if seal:
            sealed = audit_seal()
            self.stdout.write(f"Sealed {sealed} waiting event{'s' if sealed != 1 else ''}.")
        if digest is not None:
            self.check_digests(digest)
        report = audit_verify()
        if report.first_break is not None:
            self.stderr.write(f"Audit chain BROKEN at {report.first_break}.")
            self.stderr.write(
                f"{report.checked} event{'s' if report.checked != 1 else ''} before it verified; "
                "nothing after it was checked."
            )
            raise CommandError("The audit chain does not verify.", returncode=EXIT_BROKEN)
        self.stdout.write(
            f"Audit chain intact: {report.checked} event{'s' if report.checked != 1 else ''} verified"
            + (
                f", head at sequence {report.head_sequence} (hash {report.head_hash})."
                if report.checked
                else "."
            )
        )
        if report.unsealed:
            self.stdout.write(
                f"{report.unsealed} recent event{'s' if report.unsealed != 1 else ''} wait for the sealer."
            )
        if report.stale_unsealed:
            oldest = report.oldest_stale
            self.stderr.write(
                f"{report.stale_unsealed} event{'s' if report.stale_unsealed != 1 else ''} recorded more than "
                f"{int(UNSEALED_GRACE.total_seconds())} seconds ago {'are' if report.stale_unsealed != 1 else 'is'} "
                f"still unsealed (oldest: event id {oldest.pk} at {oldest.timestamp:%Y-%m-%dT%H:%M:%SZ}). "
                "Is Celery beat running, with a worker? `manage.py verify_audit --seal` seals them now."
            )
            raise CommandError("Audit events are waiting for the sealer.", returncode=EXIT_UNSEALED)

    def check_digests(self, path: Path) -> None:
        try:
            kept = path.read_text()
        except OSError as error:
            raise CommandError(
                f"Cannot read the digest file: {error}", returncode=EXIT_DIGEST_INVALID
            ) from error
        try:
            digests = audit_verify_digest(kept)
        except AuditKeyMissing as refusal:
            raise CommandError(str(refusal), returncode=EXIT_DIGEST_INVALID) from refusal
        except DigestInvalid as problem:
            self.stderr.write(f"Audit digest REFUSED: {problem}")
            raise CommandError(
                "The audit digest cannot be trusted.", returncode=EXIT_DIGEST_INVALID
            ) from problem
        except DigestMismatch as problem:
            self.stderr.write(f"Audit trail REWRITTEN: {problem}")
            raise CommandError(
                "The audit trail does not match its digest.", returncode=EXIT_BROKEN
            ) from problem
        last = digests[-1]
        self.stdout.write(
            f"Audit digest{'s' if len(digests) != 1 else ''} hold: {len(digests)} checked, the last taken at "
            f"{last.taken_at} at sequence {last.sequence}."
        )
