"""Dealers, email gateways, sessions and rate counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BLOCK_STATUSES = "('NOT_BLOCKED', 'INITIAL_BLOCK', 'BLOCK_LOGIN', 'CLIENTS_BLOCKED')"


def upgrade() -> None:
    op.create_table(
        "dealers",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("login", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("domain", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("block_status", sa.Text(), server_default="NOT_BLOCKED", nullable=False),
        sa.Column("permissions", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("bound_gateway_id", sa.BigInteger(), nullable=True),
        sa.Column("email_from", sa.Text(), nullable=True),
        sa.Column("email_footer", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["dealers.id"], ondelete="RESTRICT"),
        sa.CheckConstraint("char_length(login) BETWEEN 1 AND 64", name="login_length"),
        sa.CheckConstraint("domain = lower(domain) AND char_length(domain) BETWEEN 1 AND 253",
                           name="domain_lowercase"),
        sa.CheckConstraint(f"block_status IN {BLOCK_STATUSES}", name="block_status"),
        sa.CheckConstraint("jsonb_typeof(permissions) = 'object'", name="permissions_object"),
        sa.CheckConstraint("parent_id <> id", name="not_own_parent"),
        sa.CheckConstraint("char_length(email_from) <= 100", name="email_from_length"),
        sa.CheckConstraint("char_length(email_footer) <= 600", name="email_footer_length"),
        sa.UniqueConstraint("login"),
        sa.UniqueConstraint("domain"),
    )
    op.create_index(op.f("ix__dealers__parent_id"), "dealers", ["parent_id"])

    op.create_table(
        "email_gateways",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), server_default="smtp", nullable=False),
        sa.Column("leasable", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False),
        sa.Column("password_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["dealers.id"], ondelete="CASCADE"),
        sa.CheckConstraint("char_length(label) BETWEEN 1 AND 100", name="label_length"),
        sa.CheckConstraint("provider ~ '^[a-z0-9_]{1,50}$'", name="provider_name"),
        sa.CheckConstraint("jsonb_typeof(params) = 'object'", name="params_object"),
    )
    # list: own gateways by owner, ordered by id.
    op.create_index("ix__email_gateways__owner_id_id", "email_gateways", ["owner_id", "id"])
    # list: the parent's leasable gateways; small partial index.
    op.create_index(
        "ix__email_gateways__owner_id_id_leasable", "email_gateways", ["owner_id", "id"],
        postgresql_where=sa.text("leasable"),
    )

    op.create_foreign_key(
        op.f("fk__dealers__bound_gateway_id__email_gateways"), "dealers", "email_gateways",
        ["bound_gateway_id"], ["id"], ondelete="RESTRICT",
    )
    # "Who is bound to this gateway?" on delete and on un-leasing.
    op.create_index(op.f("ix__dealers__bound_gateway_id"), "dealers", ["bound_gateway_id"])

    op.create_table(
        "sessions",
        sa.Column("digest", sa.LargeBinary(), primary_key=True),
        sa.Column("dealer_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), server_default="navixy", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealers.id"], ondelete="CASCADE"),
        sa.CheckConstraint("octet_length(digest) = 32", name="digest_sha256"),
        sa.CheckConstraint("kind IN ('navixy', 'webitel')", name="kind"),
        sa.CheckConstraint("expires_at > created_at", name="expires_after_created"),
    )
    op.create_index(op.f("ix__sessions__dealer_id"), "sessions", ["dealer_id"])
    op.create_index(op.f("ix__sessions__expires_at"), "sessions", ["expires_at"])

    op.create_table(
        "rate_counters",
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start"),
        sa.CheckConstraint("hits >= 0", name="hits_not_negative"),
    )
    op.create_index(op.f("ix__rate_counters__window_start"), "rate_counters", ["window_start"])


def downgrade() -> None:
    op.drop_table("rate_counters")
    op.drop_table("sessions")
    op.drop_constraint(op.f("fk__dealers__bound_gateway_id__email_gateways"), "dealers",
                       type_="foreignkey")
    op.drop_table("email_gateways")
    op.drop_table("dealers")
