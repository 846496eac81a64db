from django.db import migrations

DEFAULT_PROJECT_GROUP = "Default Project Group"


def create_default_group(apps, schema_editor):
    ProjectGroup = apps.get_model("processes", "ProjectGroup")
    ProjectGroup.objects.get_or_create(name=DEFAULT_PROJECT_GROUP)


class Migration(migrations.Migration):
    dependencies = [("processes", "0002_initial")]

    operations = [migrations.RunPython(create_default_group, migrations.RunPython.noop)]
