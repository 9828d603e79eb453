"""ORM models. The schema itself is owned by the alembic migrations; these
classes only describe it to queries, so any change here needs a migration."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints make migrations reversible and errors readable.
NAMING_CONVENTION = {
    "ix": "ix__%(table_name)s__%(column_0_N_name)s",
    "uq": "uq__%(table_name)s__%(column_0_N_name)s",
    "ck": "ck__%(table_name)s__%(constraint_name)s",
    "fk": "fk__%(table_name)s__%(column_0_N_name)s__%(referred_table_name)s",
    "pk": "pk__%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Timestamps are compared with now() in SQL, so they must carry a zone.
    type_annotation_map = {dt.datetime: DateTime(timezone=True)}


class Dealer(Base):
    __tablename__ = "dealers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    login: Mapped[str] = mapped_column(Text, unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, server_default="")
    domain: Mapped[str | None] = mapped_column(Text, unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("dealers.id", ondelete="RESTRICT"), index=True
    )
    # One of domain/dealers.py's BLOCK_STATUSES (checked by services/dealers.py).
    block_status: Mapped[str] = mapped_column(Text, server_default="NOT_BLOCKED")
    permissions: Mapped[dict[str, list[str]]] = mapped_column(JSONB, server_default="{}")
    # RESTRICT, not SET NULL: a gateway may only disappear after the code has
    # decided what happens to the dealers bound to it (unbind self, refuse for children).
    bound_gateway_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("email_gateways.id", ondelete="RESTRICT", use_alter=True),
        index=True,
    )
    # Navixy's notification settings (the sender identity).
    email_from: Mapped[str | None] = mapped_column(Text)
    email_footer: Mapped[str | None] = mapped_column(Text)
    email_special: Mapped[str | None] = mapped_column(Text)
    sms_originator: Mapped[str | None] = mapped_column(Text)
    caller_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))


class EmailGateway(Base):
    __tablename__ = "email_gateways"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("dealers.id", ondelete="CASCADE")
    )
    label: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(Text, server_default="smtp")
    leasable: Mapped[bool] = mapped_column(server_default=text("false"))
    # Every SMTP key with its default filled in, minus the password.
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Fernet token of the SMTP password; never decrypted except to send.
    password_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))


class PanelSession(Base):
    __tablename__ = "sessions"

    # SHA-256 of the hash handed to the client: a database leak yields no usable session.
    digest: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    dealer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("dealers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(Text, server_default="navixy")
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class RateCounter(Base):
    """Fixed-window counters shared by every instance through PostgreSQL."""

    __tablename__ = "rate_counters"

    bucket: Mapped[str] = mapped_column(Text, primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, server_default="0")


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dealer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("dealers.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("dealers.id", ondelete="SET NULL"), index=True)
    actor: Mapped[str] = mapped_column(Text)
    face: Mapped[str] = mapped_column(Text)
    client_address: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    action: Mapped[str] = mapped_column(Text)
    gateway_id: Mapped[int | None] = mapped_column(BigInteger)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class SubmissionKey(Base):
    """A dealer's key for submitting mail; only its SHA-256 digest is kept."""

    __tablename__ = "submission_keys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dealer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("dealers.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(Text, server_default="")
    digest: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    last_used_at: Mapped[dt.datetime | None] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


class MailMessage(Base):
    """A queued or finished message: the queue and the delivery log in one row."""

    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dealer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("dealers.id", ondelete="CASCADE"))
    key_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("submission_keys.id", ondelete="SET NULL"))
    priority: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    status: Mapped[str] = mapped_column(Text, server_default="queued")
    reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, server_default="")
    recipients: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    size_bytes: Mapped[int] = mapped_column(Integer, server_default="0")
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    attempt_count: Mapped[int] = mapped_column(Integer, server_default="0")
    gateway_id: Mapped[int | None] = mapped_column(BigInteger)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    leased_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    finished_at: Mapped[dt.datetime | None] = mapped_column()


class GatewaySlot(Base):
    """One allowed SMTP connection to a gateway, held by one instance at a time."""

    __tablename__ = "gateway_slots"

    gateway_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    holder: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[dt.datetime | None] = mapped_column()


class GatewayHealth(Base):
    __tablename__ = "gateway_health"

    gateway_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("email_gateways.id", ondelete="CASCADE"), primary_key=True)
    last_success_at: Mapped[dt.datetime | None] = mapped_column()
    last_failure_at: Mapped[dt.datetime | None] = mapped_column()
    last_failure_kind: Mapped[str | None] = mapped_column(Text)
    failures_in_row: Mapped[int] = mapped_column(Integer, server_default="0")
    backoff_until: Mapped[dt.datetime | None] = mapped_column()
