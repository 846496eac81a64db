from django.core.management.base import BaseCommand, CommandError

from teams.audit import UNSEALED_GRACE, audit_seal, audit_verify

# Exit statuses, so a monitoring job can tell the two apart.
EXIT_BROKEN = 1
EXIT_UNSEALED = 2


class Command(BaseCommand):
    help = (
        "Recomputes the audit trail's hash chain and reports the first break (sequence, event id, "
        f"what differs). Exits {EXIT_BROKEN} on a break, {EXIT_UNSEALED} when events recorded more than "
        f"{int(UNSEALED_GRACE.total_seconds())} seconds ago are still unsealed (the sealer is not "
        "running), 0 when the chain holds."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--seal",
            action="store_true",
            help="Chain the events waiting for the sealer first (as the periodic sealer would).",
        )

    def handle(self, *args, seal: bool, **options):
        if seal:
            sealed = audit_seal()
            self.stdout.write(f"Sealed {sealed} waiting event{'s' if sealed != 1 else ''}.")
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
