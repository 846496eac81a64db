"""A step's environments, excluded environments and responsible teams go through link
models that protect the environment or team. The tables Django made for the plain
many-to-many fields stay as they are (names, columns, unique pairs): only the migration
state learns about the link models, the recipe Django documents for adding a through
model to an existing field."""

import django.db.models.deletion
from django.db import migrations, models


def step_link(name: str, table: str, target_field: str, target: str) -> migrations.CreateModel:
    return migrations.CreateModel(
        name=name,
        fields=[
            (
                "id",
                models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
            ),
            (
                "step",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, related_name="+", to="processes.step"
                ),
            ),
            (
                target_field,
                models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to=target),
            ),
        ],
        options={"db_table": table, "unique_together": {("step", target_field)}},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("lifecycles", "0001_initial"),
        ("processes", "0003_default_project_group"),
        ("teams", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                step_link(
                    "StepEnvironment", "processes_step_environments", "environment", "lifecycles.environment"
                ),
                step_link(
                    "StepExcludedEnvironment",
                    "processes_step_excluded_environments",
                    "environment",
                    "lifecycles.environment",
                ),
                step_link("StepResponsibleTeam", "processes_step_responsible_teams", "team", "teams.team"),
                migrations.AlterField(
                    model_name="step",
                    name="environments",
                    field=models.ManyToManyField(
                        blank=True,
                        help_text="Run only in these environments (none: every environment).",
                        related_name="+",
                        through="processes.StepEnvironment",
                        to="lifecycles.environment",
                    ),
                ),
                migrations.AlterField(
                    model_name="step",
                    name="excluded_environments",
                    field=models.ManyToManyField(
                        blank=True,
                        help_text="Never run in these environments.",
                        related_name="+",
                        through="processes.StepExcludedEnvironment",
                        to="lifecycles.environment",
                    ),
                ),
                migrations.AlterField(
                    model_name="step",
                    name="responsible_teams",
                    field=models.ManyToManyField(
                        blank=True, related_name="+", through="processes.StepResponsibleTeam", to="teams.team"
                    ),
                ),
            ],
        ),
    ]
