"""Notify every instance of changes to dealers, gateways and ended sessions.

Instances cache sessions and serialized gateway lists; a statement-level
trigger sends `NOTIFY navixy_panel_changes` (delivered at commit) for every
write, whoever makes it (either face, the command line, a manual UPDATE), so
no write path can forget to invalidate. Session inserts (logins) do not
notify: a new session invalidates nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = {
    "dealers": "INSERT OR UPDATE OR DELETE",
    "email_gateways": "INSERT OR UPDATE OR DELETE",
    "sessions": "UPDATE OR DELETE",
}


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION navixy_panel_notify_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('navixy_panel_changes', TG_TABLE_NAME);
            RETURN NULL;
        END $$
    """)
    for table, events in TRIGGERS.items():
        op.execute(f"""
            CREATE TRIGGER notify_change AFTER {events} ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION navixy_panel_notify_change()
        """)


def downgrade() -> None:
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER notify_change ON {table}")
    op.execute("DROP FUNCTION navixy_panel_notify_change()")
