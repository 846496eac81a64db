"""On PostgreSQL the audit trail also refuses TRUNCATE, which skips the row triggers of
0003: a statement trigger on the events and on the chain head names the rule.

The one way past is a session or transaction that sets ``relman.audit_maintenance`` to
``on`` (``SET LOCAL relman.audit_maintenance = 'on'``): a database owner's deliberate
maintenance, such as the test suite emptying its own database between tests. It guards
against accidents (``manage.py flush``, a careless TRUNCATE ... CASCADE); someone who
uses it, or disables the triggers, to rewrite the trail is caught by
``verify_audit --digest`` against a digest kept outside the database."""

from django.db import migrations

REFUSE_TRUNCATE = r"""
CREATE FUNCTION teams_audit_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('relman.audit_maintenance', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: TRUNCATE of % refused', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER teams_auditevent_refuse_truncate
    BEFORE TRUNCATE ON teams_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION teams_audit_refuse_truncate();
CREATE TRIGGER teams_auditchainhead_refuse_truncate
    BEFORE TRUNCATE ON teams_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION teams_audit_refuse_truncate();
"""

ALLOW_TRUNCATE = """
DROP TRIGGER IF EXISTS teams_auditchainhead_refuse_truncate ON teams_auditchainhead;
DROP TRIGGER IF EXISTS teams_auditevent_refuse_truncate ON teams_auditevent;
DROP FUNCTION IF EXISTS teams_audit_refuse_truncate();
"""


def _on_postgresql(sql: str):
    # On SQLite there is no TRUNCATE, and the models alone refuse changes.
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0004_role_grant_scope_links"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(REFUSE_TRUNCATE), _on_postgresql(ALLOW_TRUNCATE)),
    ]
