"""A release step's environments, excluded environments and responsible teams, and an
interruption's responsible teams, go through link models that protect the environment
or team. The tables Django made for the plain many-to-many fields stay as they are
(names, columns, unique pairs): only the migration state learns about the link models,
the recipe Django documents for adding a through model to an existing field."""

import django.db.models.deletion
from django.db import migrations, models


def link(
    name: str, table: str, owner_field: str, owner: str, target_field: str, target: str
) -> migrations.CreateModel:
    # The release step's column keeps the name Django gave it, without the underscore.
    owner_column = {"db_column": "releasestep_id"} if owner_field == "release_step" else {}
    return migrations.CreateModel(
        name=name,
        fields=[
            (
                "id",
                models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
            ),
            (
                owner_field,
                models.ForeignKey(
                    **owner_column, on_delete=django.db.models.deletion.CASCADE, related_name="+", to=owner
                ),
            ),
            (
                target_field,
                models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to=target),
            ),
        ],
        options={"db_table": table, "unique_together": {(owner_field, target_field)}},
    )


def release_step_link(name: str, table: str, target_field: str, target: str) -> migrations.CreateModel:
    return link(name, table, "release_step", "releases.releasestep", target_field, target)


class Migration(migrations.Migration):
    dependencies = [
        ("lifecycles", "0001_initial"),
        ("releases", "0004_dashboardpreference"),
        ("teams", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                release_step_link(
                    "ReleaseStepEnvironment",
                    "releases_releasestep_environments",
                    "environment",
                    "lifecycles.environment",
                ),
                release_step_link(
                    "ReleaseStepExcludedEnvironment",
                    "releases_releasestep_excluded_environments",
                    "environment",
                    "lifecycles.environment",
                ),
                release_step_link(
                    "ReleaseStepResponsibleTeam",
                    "releases_releasestep_responsible_teams",
                    "team",
                    "teams.team",
                ),
                link(
                    "InterruptionResponsibleTeam",
                    "releases_interruption_responsible_teams",
                    "interruption",
                    "releases.interruption",
                    "team",
                    "teams.team",
                ),
                migrations.AlterField(
                    model_name="releasestep",
                    name="environments",
                    field=models.ManyToManyField(
                        blank=True,
                        help_text="Run only in these environments (none: every environment).",
                        related_name="+",
                        through="releases.ReleaseStepEnvironment",
                        to="lifecycles.environment",
                    ),
                ),
                migrations.AlterField(
                    model_name="releasestep",
                    name="excluded_environments",
                    field=models.ManyToManyField(
                        blank=True,
                        help_text="Never run in these environments.",
                        related_name="+",
                        through="releases.ReleaseStepExcludedEnvironment",
                        to="lifecycles.environment",
                    ),
                ),
                migrations.AlterField(
                    model_name="releasestep",
                    name="responsible_teams",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="+",
                        through="releases.ReleaseStepResponsibleTeam",
                        to="teams.team",
                    ),
                ),
                migrations.AlterField(
                    model_name="interruption",
                    name="responsible_teams",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="+",
                        through="releases.InterruptionResponsibleTeam",
                        to="teams.team",
                    ),
                ),
            ],
        ),
    ]
