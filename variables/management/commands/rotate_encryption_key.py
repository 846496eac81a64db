from django.core.management.base import BaseCommand, CommandError

from variables import services
from variables.crypto import UnreadableValue


class Command(BaseCommand):
    help = (
        "Re-encrypts every sensitive variable value with RELMAN_ENCRYPTION_KEY. Set the new key "
        "there and the previous one in RELMAN_ENCRYPTION_OLD_KEYS, run this, then remove the old key."
    )

    def handle(self, *args, **options):
        try:
            values, snapshots = services.encryption_key_rotate()
        except UnreadableValue as error:
            raise CommandError(f"{error} Nothing was changed.") from None
        self.stdout.write(f"Re-encrypted {values} sensitive values and {snapshots} release snapshots.")
