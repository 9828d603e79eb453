"""Delivery: submission keys, the message queue, connection slots and gateway health.

The queue is this database's own tables (no broker): a message is one row of
`mail_messages`, claimed with `FOR UPDATE SKIP LOCKED` and leased through its
`next_attempt_at` (see services/queue.py for why no queue library owns them).
Bodies are kept apart from the log in `content` so retention can empty it and
keep the row.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("queued", "sending", "deferred", "sent", "partly_sent", "failed", "expired")
REASONS = ("no_gateway", "no_sender", "rejected", "expired", "dealer_blocked")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "submission_keys",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("dealer_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.Text(), server_default="", nullable=False),
        # SHA-256 of the key: the key itself is shown once and never stored.
        sa.Column("digest", sa.LargeBinary(), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealers.id"], ondelete="CASCADE"),
        sa.CheckConstraint("char_length(label) <= 100", name="label_length"),
    )
    op.create_index(op.f("ix__submission_keys__dealer_id"), "submission_keys", ["dealer_id"])

    op.create_table(
        "mail_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("dealer_id", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.BigInteger(), nullable=True),
        # 0 alarm, 1 normal, 2 bulk: sorts the way delivery takes them.
        sa.Column("priority", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("status", sa.Text(), server_default="queued", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        # The Message-ID header, chosen at submission and kept across attempts.
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), server_default="", nullable=False),
        # [{address, kind (to|cc), status (pending|sent|failed), reply_code}]
        sa.Column("recipients", postgresql.JSONB(), nullable=False),
        # What was submitted (text, html, attachments, reply_to, from), as JSON bytes;
        # null once retention has deleted it.
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), server_default="0", nullable=False),
        # [{time, gateway_id, owner_id, stage, kind, reply_code, reply_text, duration_ms}]
        sa.Column("attempts", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("attempt_count", sa.Integer(), server_default="0", nullable=False),
        # The gateway of the last attempt; no foreign key: the log outlives the gateway.
        sa.Column("gateway_id", sa.BigInteger(), nullable=True),
        # Due time while queued or deferred; the lease's end while sending.
        sa.Column("next_attempt_at", sa.DateTime(timezone=True),
                  server_default=sa.text("now()"), nullable=False),
        sa.Column("leased_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["key_id"], ["submission_keys.id"], ondelete="SET NULL"),
        sa.CheckConstraint(_one_of("status", STATUSES), name="status"),
        sa.CheckConstraint(f"reason IS NULL OR {_one_of('reason', REASONS)}", name="reason"),
        sa.CheckConstraint("priority BETWEEN 0 AND 2", name="priority"),
        sa.CheckConstraint("char_length(idempotency_key) <= 100", name="idempotency_key_length"),
    )
    # The claim: a dealer's due work in the order it is taken.
    op.create_index("ix__mail_messages__due", "mail_messages",
                    ["dealer_id", "priority", "next_attempt_at", "id"],
                    postgresql_where=sa.text("status IN ('queued', 'deferred', 'sending')"))
    # messages/list: a dealer's messages, newest first.
    op.create_index("ix__mail_messages__dealer_id_id", "mail_messages",
                    ["dealer_id", sa.text("id DESC")])
    op.create_index("uq__mail_messages__dealer_id_idempotency_key", "mail_messages",
                    ["dealer_id", "idempotency_key"], unique=True,
                    postgresql_where=sa.text("idempotency_key IS NOT NULL"))
    # Retention: finished messages by age.
    op.create_index("ix__mail_messages__finished_at", "mail_messages", ["finished_at"],
                    postgresql_where=sa.text("finished_at IS NOT NULL"))

    # One row per allowed SMTP connection to a gateway, across every instance.
    op.create_table(
        "gateway_slots",
        sa.Column("gateway_id", sa.BigInteger(), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("gateway_id", "slot"),
    )

    op.create_table(
        "gateway_health",
        sa.Column("gateway_id", sa.BigInteger(), primary_key=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_kind", sa.Text(), nullable=True),
        sa.Column("failures_in_row", sa.Integer(), server_default="0", nullable=False),
        sa.Column("backoff_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["gateway_id"], ["email_gateways.id"], ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("gateway_health")
    op.drop_table("gateway_slots")
    op.drop_table("mail_messages")
    op.drop_table("submission_keys")
