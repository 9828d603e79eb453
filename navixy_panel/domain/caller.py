"""Who is acting: the dealer behind a session, as read with the session."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from navixy_panel.domain import permissions


@dataclass(frozen=True, slots=True)
class Caller:
    dealer_id: int
    login: str
    parent_id: int | None
    domain: str | None
    permissions: dict[str, list[str]]
    bound_gateway_id: int | None
    session_digest: bytes
    expires_at: dt.datetime

    def may(self, category: str, operation: str) -> bool:
        return permissions.allows(self.permissions, category, operation)

    def is_live(self) -> bool:
        """Whether the session has not expired (a cached Caller outlives nothing)."""
        return self.expires_at.timestamp() > time.time()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change, for the audit trail."""

    dealer_id: int | None
    login: str
    face: str  # navixy, webitel or cli
    client_address: str | None = None


OPERATOR = Actor(None, "operator", "cli")


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """A successful login: who, and the secret only the client gets."""

    dealer_id: int
    login: str
    domain: str | None
    permissions: dict[str, list[str]]
    secret: str  # the session hash or key, for the client only (never stored)
    expires_at: dt.datetime
