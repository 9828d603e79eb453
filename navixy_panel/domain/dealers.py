"""Dealers as the use cases see them: block statuses, credentials, sender identity,
and a domain's dealer (Webitel's per-domain model).

A block status is the operator's decision (`navixy-panel dealer update
--block-status`); login, session resolution and the hot list path all refuse the same
ones.
"""

from __future__ import annotations

from dataclasses import dataclass

NOT_BLOCKED = "NOT_BLOCKED"
BLOCK_STATUSES = (NOT_BLOCKED, "INITIAL_BLOCK", "BLOCK_LOGIN", "CLIENTS_BLOCKED")
# Statuses that shut the dealer out of the panel (CLIENTS_BLOCKED only blocks its customers).
LOGIN_BLOCKING_STATUSES = ("INITIAL_BLOCK", "BLOCK_LOGIN")


@dataclass(frozen=True, slots=True)
class Credentials:
    dealer_id: int
    password_hash: str
    block_status: str
    permissions: dict[str, list[str]]
    domain: str | None


SENDER_FIELDS = ("email_from", "email_footer", "email_special", "sms_originator", "caller_id")


@dataclass(frozen=True, slots=True)
class SenderIdentity:
    """What the dealer's notifications are sent as: Navixy's notification settings.
    `email_from` may carry a display name; every field is None when unset."""

    email_from: str | None
    email_footer: str | None
    email_special: str | None
    sms_originator: str | None
    caller_id: str | None

    def fields(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in SENDER_FIELDS}


@dataclass(frozen=True, slots=True)
class DomainDealer:
    """The dealer owning a domain the caller may reach (Webitel's `?domain=`)."""

    dealer_id: int
    parent_id: int | None
    bound_gateway_id: int | None
    domain: str


@dataclass(frozen=True, slots=True)
class DealerRecord:
    """A stored dealer, without its password hash and permissions."""

    id: int
    login: str
    title: str
    domain: str | None
    parent_id: int | None
    block_status: str
    bound_gateway_id: int | None


@dataclass(frozen=True, slots=True)
class DealerSummary:
    """A dealer as the operator's command line shows it: its parent by login."""

    id: int
    login: str
    title: str
    domain: str | None
    parent: str | None
    block_status: str
    bound_gateway_id: int | None
