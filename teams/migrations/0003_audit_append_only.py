"""Names the project and environment of the events recorded so far, then makes the audit
trail append-only in the database: on PostgreSQL a trigger refuses DELETE, and any UPDATE
but the sealer's, which only sets sequence/previous_hash/hash on an event not sealed yet.
The chain head may only move forward."""

from django.db import migrations
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def name_projects_and_environments(apps, schema_editor):
    AuditEvent = apps.get_model("teams", "AuditEvent")
    Project = apps.get_model("processes", "Project")
    Environment = apps.get_model("lifecycles", "Environment")
    AuditEvent.objects.filter(project__isnull=False, project_label="").update(
        project_label=Coalesce(
            Subquery(Project.objects.filter(pk=OuterRef("project_id")).values("name")[:1]), Value("")
        )
    )
    AuditEvent.objects.filter(environment__isnull=False, environment_label="").update(
        environment_label=Coalesce(
            Subquery(Environment.objects.filter(pk=OuterRef("environment_id")).values("name")[:1]), Value("")
        )
    )


class PostgreSQLOnly(migrations.RunSQL):
    """SQL that runs on PostgreSQL only (on SQLite the models alone refuse changes)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


APPEND_ONLY = r"""
CREATE FUNCTION teams_auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.sequence IS NOT NULL OR NEW.previous_hash <> '' OR NEW.hash <> '' THEN
            RAISE EXCEPTION 'audit events are recorded unchained: only the sealer chains them'
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit events are append-only: DELETE of event % refused', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.hash <> '' OR OLD.sequence IS NOT NULL THEN
        RAISE EXCEPTION 'audit events are append-only: event % is sealed and cannot change', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (to_jsonb(NEW) - 'sequence' - 'previous_hash' - 'hash')
            IS DISTINCT FROM (to_jsonb(OLD) - 'sequence' - 'previous_hash' - 'hash') THEN
        RAISE EXCEPTION 'audit events are append-only: only the seal of event % may be set', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.sequence IS NULL OR NEW.hash = '' THEN
        RAISE EXCEPTION 'sealing event % needs both a sequence and a hash', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER teams_auditevent_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON teams_auditevent
    FOR EACH ROW EXECUTE FUNCTION teams_auditevent_append_only();

CREATE FUNCTION teams_auditchainhead_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the audit chain head cannot be deleted' USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.sequence < OLD.sequence THEN
        RAISE EXCEPTION 'the audit chain head only moves forward (% to %)', OLD.sequence, NEW.sequence
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER teams_auditchainhead_forward_only
    BEFORE UPDATE OR DELETE ON teams_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION teams_auditchainhead_forward_only();
"""

DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS teams_auditchainhead_forward_only ON teams_auditchainhead;
DROP FUNCTION IF EXISTS teams_auditchainhead_forward_only();
DROP TRIGGER IF EXISTS teams_auditevent_append_only ON teams_auditevent;
DROP FUNCTION IF EXISTS teams_auditevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0002_audit_chain"),
    ]

    operations = [
        migrations.RunPython(name_projects_and_environments, migrations.RunPython.noop),
        PostgreSQLOnly(APPEND_ONLY, DROP_APPEND_ONLY),
    ]
