"""Role grant scopes go through link models that protect their project group, project or
environment. The tables Django made for the plain many-to-many fields stay as they are
(names, columns, unique pairs): only the migration state learns about the link models,
the recipe Django documents for adding a through model to an existing field."""

import django.db.models.deletion
from django.db import migrations, models


def scope_link(
    name: str, table: str, target_field: str, target: str, column: str | None = None
) -> migrations.CreateModel:
    # Only the project group's column is not named after its field.
    target_column = {"db_column": column} if column else {}
    return migrations.CreateModel(
        name=name,
        fields=[
            (
                "id",
                models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
            ),
            (
                "role_grant",
                models.ForeignKey(
                    db_column="rolegrant_id",
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="+",
                    to="teams.rolegrant",
                ),
            ),
            (
                target_field,
                models.ForeignKey(
                    **target_column,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="+",
                    to=target,
                ),
            ),
        ],
        options={"db_table": table, "unique_together": {("role_grant", target_field)}},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("lifecycles", "0001_initial"),
        ("processes", "0003_default_project_group"),
        ("teams", "0003_audit_append_only"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                scope_link(
                    "RoleGrantProjectGroup",
                    "teams_rolegrant_project_groups",
                    "project_group",
                    "processes.projectgroup",
                    "projectgroup_id",
                ),
                scope_link("RoleGrantProject", "teams_rolegrant_projects", "project", "processes.project"),
                scope_link(
                    "RoleGrantEnvironment",
                    "teams_rolegrant_environments",
                    "environment",
                    "lifecycles.environment",
                ),
                migrations.AlterField(
                    model_name="rolegrant",
                    name="project_groups",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="role_grants",
                        through="teams.RoleGrantProjectGroup",
                        to="processes.projectgroup",
                    ),
                ),
                migrations.AlterField(
                    model_name="rolegrant",
                    name="projects",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="role_grants",
                        through="teams.RoleGrantProject",
                        to="processes.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="rolegrant",
                    name="environments",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="role_grants",
                        through="teams.RoleGrantEnvironment",
                        to="lifecycles.environment",
                    ),
                ),
            ],
        ),
    ]
