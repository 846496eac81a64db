from django.db import migrations


def rekey_semantic_versions(apps, schema_editor):
    """Numbers in a semantic version's key were padded to ten digits, which overflowed the
    column for long pre-releases and misranked longer numbers; they now lead with their
    length (releases.versions), so every stored key of a semantic version is rewritten."""
    from releases.versions import version_sort_key

    Release = apps.get_model("releases", "Release")
    releases = list(Release.objects.filter(sort_key__startswith="1:").only("pk", "version", "created_at"))
    for release in releases:
        release.sort_key = version_sort_key(release.version, release.created_at)
    Release.objects.bulk_update(releases, ["sort_key"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0005_release_step_and_interruption_links"),
    ]

    operations = [
        migrations.RunPython(rekey_semantic_versions, migrations.RunPython.noop),
    ]
