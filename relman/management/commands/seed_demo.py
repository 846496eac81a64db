from django.core.management.base import BaseCommand
from django.db import transaction

from releases.models import Release
from releases.services import deployment_create, release_create
from relman import demo


class Command(BaseCommand):
    help = (
        "Loads both demo scenarios (the Manual Deployment checklist and the GoodHealth pipeline), "
        "each with a release deployed to its first environment. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-deploy", action="store_true", help="Create configuration and users only, no releases."
        )

    def handle(self, *args, no_deploy: bool = False, **options):
        admin = demo.demo_admin()
        with transaction.atomic():
            octopus = demo.octopus_demo()
            goodhealth = demo.goodhealth_demo()
            if not no_deploy:
                for scenario in (octopus, goodhealth):
                    if not Release.objects.filter(project=scenario.project).exists():
                        release = release_create(
                            project=scenario.project,
                            version="1.0.0",
                            notes="First tracked release.",
                            actor=admin,
                        )
                        deployment_create(release=release, environment=scenario.environments[0], actor=admin)
        self.stdout.write(self.style.SUCCESS("Demo data is loaded. Sign in with any of these:"))
        rows = [
            ("admin", "superuser (Django admin at /admin/)"),
            ("sarah", "DBA Team — Backup the database, Upgrade the database"),
            ("olly", "Ops Team — the five file and configuration steps"),
            ("tina", "Test Team — Check the application loads as expected"),
            ("admin-ops", "Admin — Migrate Data in GoodHealth's Integration"),
        ]
        for username, what in rows:
            self.stdout.write(f"  {username:<10} / {demo.DEMO_PASSWORD}   {what}")
