from django.core.management.base import BaseCommand, CommandError

from teams.audit import AuditKeyMissing, DigestRefused, audit_digest


class Command(BaseCommand):
    help = (
        "Seals the waiting audit events, verifies the chain and prints one line to keep outside the "
        "database: the chain head's sequence and hash signed with RELMAN_AUDIT_KEY (HMAC-SHA256). "
        "Append it to a file elsewhere; `verify_audit --digest FILE` later proves the trail was not "
        "rewritten up to that point."
    )

    def handle(self, *args, **options):
        try:
            self.stdout.write(audit_digest())
        except (AuditKeyMissing, DigestRefused) as refusal:
            raise CommandError(str(refusal)) from refusal
