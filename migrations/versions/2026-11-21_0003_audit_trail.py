"""Audit trail of changes to gateways, bindings and sender identities.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        # Whose trail the entry belongs to (the gateway's owner, the dealer bound).
        sa.Column("dealer_id", sa.BigInteger(), nullable=False),
        # Who did it: a dealer (null once deleted, or for the operator's command line).
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("face", sa.Text(), nullable=False),
        sa.Column("client_address", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        # No foreign key: the trail outlives the gateway it describes.
        sa.Column("gateway_id", sa.BigInteger(), nullable=True),
        sa.Column("changes", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["dealers.id"], ondelete="SET NULL"),
        sa.CheckConstraint("face IN ('navixy', 'webitel', 'cli')", name="face"),
        sa.CheckConstraint("jsonb_typeof(changes) = 'object'", name="changes_object"),
    )
    # gateways/email/audit: a dealer's entries, newest first, paged.
    op.create_index("ix__audit_events__dealer_id_id", "audit_events",
                    ["dealer_id", sa.text("id DESC")])
    op.create_index(op.f("ix__audit_events__actor_id"), "audit_events", ["actor_id"])


def downgrade() -> None:
    op.drop_table("audit_events")
