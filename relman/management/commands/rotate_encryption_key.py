from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from notifications.services import webhook_secrets_rotate
from relman.crypto import UnreadableValue
from variables.services import encryption_key_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypts every stored secret (sensitive variable values, webhook secrets) with "
        "RELMAN_ENCRYPTION_KEY. Set the new key there and the previous one in "
        "RELMAN_ENCRYPTION_OLD_KEYS, run this, then remove the old key."
    )

    def handle(self, *args, **options):
        try:
            with transaction.atomic():
                values, snapshots = encryption_key_rotate()
                webhooks = webhook_secrets_rotate()
        except UnreadableValue as error:
            raise CommandError(f"{error} Nothing was changed.") from None
        self.stdout.write(
            f"Re-encrypted {values} sensitive values, {snapshots} release snapshots and {webhooks} webhook secrets."
        )
