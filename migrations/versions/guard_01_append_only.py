"""ticket_events and audit_events are append-only: the database refuses UPDATE and DELETE on
them (issue 2 item 2). The ORM refuses the same before it gets here (portal/db_setup.py); this
catches everything else (raw SQL, another client). PostgreSQL's TRUNCATE fires no row trigger,
so a deliberate wipe of a whole database still works; on SQLite drop the triggers first.

Note for later migrations on SQLite: ``batch_alter_table`` rebuilds a table and loses its
triggers; a migration that rebuilds ticket_events or audit_events must create them again.

Revision ID: guard_01
Revises: reports_01
"""
from alembic import op

revision = "guard_01"
down_revision = "reports_01"
branch_labels = None
depends_on = None

TABLES = ("ticket_events", "audit_events")


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION portal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP "
            "|| ' refused', ERRCODE = 'restrict_violation'; END $$"
        )
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION portal_append_only()"
            )
    elif dialect == "sqlite":
        for table in TABLES:
            for verb in ("UPDATE", "DELETE"):
                name = f"{table}_no_{verb.lower()}"
                op.execute(f"DROP TRIGGER IF EXISTS {name}")
                op.execute(
                    f"CREATE TRIGGER {name} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
                )


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS portal_append_only()")
    elif dialect == "sqlite":
        for table in TABLES:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
