from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from teams.models import User
from teams.services import api_key_create


class Command(BaseCommand):
    help = (
        "Creates an API key for a user and prints it, alone, on the last line. The key is shown "
        "only once: only its hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user the key acts as.")
        parser.add_argument("--purpose", default="", help='What the key is for, e.g. "CI pipeline".')
        parser.add_argument(
            "--expires-days", type=int, default=None, help="Days until the key expires (default: never)."
        )

    def handle(self, *args, username: str, purpose: str, expires_days: int | None, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; a disabled user's keys do not work.")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        expires_in = timedelta(days=expires_days) if expires_days else None
        api_key, secret = api_key_create(user=user, purpose=purpose, expires_in=expires_in, actor=None)
        expiry = f"expires {api_key.expires_at:%Y-%m-%dT%H:%M:%SZ}" if api_key.expires_at else "never expires"
        self.stdout.write(f"API key {api_key.prefix} for {user.username} ({expiry}). It is shown only once:")
        self.stdout.write(secret)
