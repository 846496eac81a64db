from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from releases.models import Release
from releases.services import deployment_create, release_create
from relman import demo


class Command(BaseCommand):
    help = (
        "Loads both demo scenarios (the Manual Deployment checklist and the GoodHealth pipeline), "
        "each with a release deployed to its first environment. Safe to run again. Outside debug "
        "mode it needs --i-know-this-is-production."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-deploy", action="store_true", help="Create configuration and users only, no releases."
        )
        parser.add_argument(
            "--history",
            action="store_true",
            help="Also write three months of past deployments, so Insights has figures to show.",
        )
        parser.add_argument(
            "--i-know-this-is-production",
            action="store_true",
            dest="production",
            help="Load the demo outside debug mode, superuser and published passwords included.",
        )

    def handle(
        self, *args, no_deploy: bool = False, history: bool = False, production: bool = False, **options
    ):
        if not settings.DEBUG and not production:
            raise CommandError(
                f"Refusing to load the demo outside debug mode: it creates the superuser admin with the "
                f"published password {demo.DEMO_PASSWORD!r}. Set RELMAN_DEBUG=1 on a development machine, "
                "or pass --i-know-this-is-production to load it here anyway."
            )
        admin = demo.demo_admin()
        with transaction.atomic():
            octopus = demo.octopus_demo()
            goodhealth = demo.goodhealth_demo()
            if history:
                # Before the first release: the dashboard shows the latest deployment, which
                # must stay the one waiting for a person.
                demo.history_demo(octopus, octopus.users["sarah"])
                demo.history_demo(goodhealth, goodhealth.users["admin-ops"])
            demo.demo_target()
            if not no_deploy:
                for scenario in (octopus, goodhealth):
                    if not Release.objects.filter(project=scenario.project, version="1.0.0").exists():
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
