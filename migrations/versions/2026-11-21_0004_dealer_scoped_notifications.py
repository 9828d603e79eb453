"""Change notifications that name the dealers whose cached answers changed.

0002 notified "something changed" on every write, so every instance flushed
every cache three times a second under a trickle of writes. These triggers say
what changed, so instances evict only the entries that depend on it:
- a gateway write names its owner (`d:`) and, when the gateway is or was
  leasable, the owner as a parent (`p:`: its children's lists change);
- a dealer update or delete names the dealer;
- ended sessions are named by their digest (`s:`), or, past 50 at once, by
  their dealers; new sessions (logins) notify nothing.
A payload too long for NOTIFY is `*`: every instance then drops everything.
Statement-level triggers with transition tables send one notification per
statement, whatever the number of rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "navixy_panel_changes"
MAX_PAYLOAD = 7900  # NOTIFY refuses payloads of 8000 bytes and more

# (trigger name, table, event, REFERENCING clause, function body computing `payload`)
_GATEWAY_ROWS = {
    "INSERT": "SELECT owner_id, leasable FROM new_rows",
    "UPDATE": "SELECT owner_id, leasable FROM new_rows UNION ALL "
              "SELECT owner_id, leasable FROM old_rows",
    "DELETE": "SELECT owner_id, leasable FROM old_rows",
}
_REFERENCING = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
}


def _gateway_body(event: str) -> str:
    return f"""
        SELECT 'd:' || coalesce(string_agg(DISTINCT owner_id::text, ','), '')
               || ';p:' || coalesce(string_agg(DISTINCT CASE WHEN leasable
                                                THEN owner_id::text END, ','), '')
          INTO payload FROM ({_GATEWAY_ROWS[event]}) AS changed;
    """


_DEALER_BODY = """
        SELECT 'd:' || coalesce(string_agg(id::text, ','), '') INTO payload FROM {rows};
"""

_SESSION_BODY = """
        IF (SELECT count(*) FROM old_rows) <= 50 THEN
            SELECT 's:' || coalesce(string_agg(encode(digest, 'hex'), ','), '')
              INTO payload FROM old_rows;
        ELSE
            SELECT 'd:' || coalesce(string_agg(DISTINCT dealer_id::text, ','), '')
              INTO payload FROM old_rows;
        END IF;
"""

TRIGGERS: list[tuple[str, str, str, str]] = [
    ("notify_gateway_insert", "email_gateways", "INSERT", _gateway_body("INSERT")),
    ("notify_gateway_update", "email_gateways", "UPDATE", _gateway_body("UPDATE")),
    ("notify_gateway_delete", "email_gateways", "DELETE", _gateway_body("DELETE")),
    ("notify_dealer_update", "dealers", "UPDATE", _DEALER_BODY.format(rows="new_rows")),
    ("notify_dealer_delete", "dealers", "DELETE", _DEALER_BODY.format(rows="old_rows")),
    ("notify_session_delete", "sessions", "DELETE", _SESSION_BODY),
]

_OLD_TRIGGERS = {
    "dealers": "INSERT OR UPDATE OR DELETE",
    "email_gateways": "INSERT OR UPDATE OR DELETE",
    "sessions": "UPDATE OR DELETE",
}


def upgrade() -> None:
    for table in _OLD_TRIGGERS:
        op.execute(f"DROP TRIGGER notify_change ON {table}")
    op.execute("DROP FUNCTION navixy_panel_notify_change()")
    for name, table, event, body in TRIGGERS:
        op.execute(f"""
            CREATE FUNCTION navixy_panel_{name}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                payload text;
            BEGIN
                {body}
                IF payload IS NULL OR payload IN ('d:', 's:', 'd:;p:') THEN
                    RETURN NULL;
                END IF;
                IF length(payload) > {MAX_PAYLOAD} THEN
                    payload := '*';
                END IF;
                PERFORM pg_notify('{CHANNEL}', payload);
                RETURN NULL;
            END $$
        """)
        op.execute(f"""
            CREATE TRIGGER {name} AFTER {event} ON {table} {_REFERENCING[event]}
            FOR EACH STATEMENT EXECUTE FUNCTION navixy_panel_{name}()
        """)


def downgrade() -> None:
    for name, table, _event, _body in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(f"DROP FUNCTION navixy_panel_{name}()")
    op.execute(f"""
        CREATE FUNCTION navixy_panel_notify_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END $$
    """)
    for table, events in _OLD_TRIGGERS.items():
        op.execute(f"""
            CREATE TRIGGER notify_change AFTER {events} ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION navixy_panel_notify_change()
        """)
