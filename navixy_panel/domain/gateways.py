"""Gateways as use cases see them: as a client gives one, as the store holds one (without
its password), as a dealer sees its list, and what a send needs (with the password)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# GatewayRecord, LeasedGateway and GatewayList are built per row on the uncached list path
# (every panel page load): not frozen, as a frozen dataclass's __init__ costs about four
# times a plain one's. Nothing changes them once built.


@dataclass(frozen=True, slots=True)
class GatewayInput:
    """A validated gateway as a client sent it; `params` holds every key, password included."""

    label: str
    provider: str
    leasable: bool
    params: dict[str, Any]


@dataclass(slots=True)
class GatewayRecord:
    """A stored gateway without its password."""

    id: int
    label: str
    provider: str
    leasable: bool
    params: dict[str, Any]


@dataclass(slots=True)
class LeasedGateway:
    """A parent's leasable gateway as its sub-dealer sees it: never its SMTP params."""

    id: int
    label: str
    provider: str
    default_from_address: str | None


@dataclass(slots=True)
class GatewayList:
    """What a dealer sees of gateways: its own whole (`params` with every key, the
    password None), its parent's leasable ones, and the one it is bound to."""

    bound_gateway_id: int | None
    own: list[GatewayRecord]
    leasable: list[LeasedGateway]


@dataclass(frozen=True, slots=True)
class UsableGateway:
    """What sending needs; the password is decrypted only for this."""

    id: int
    owner_id: int
    label: str
    params: dict[str, Any]
    password: str | None


@dataclass(frozen=True, slots=True)
class DomainSettings:
    """A domain's email settings (Webitel's model): its dealer's bound own gateway."""

    gateway_id: int
    label: str
    provider: str
    params: dict[str, Any]
    domain: str


@dataclass(frozen=True, slots=True)
class GatewaySummary:
    """A gateway as the operator's command line lists it: no param but the host, no secret."""

    id: int
    owner: str  # the owner's login
    label: str
    provider: str
    leasable: bool
    host: str | None


@dataclass(frozen=True, slots=True)
class PasswordGateway:
    """A gateway still logging in with a password to Microsoft 365 or Google."""

    id: int
    owner: str  # the owner's login
    label: str
    host: str
    service: str  # "Microsoft 365" or "Google"
    bound_dealers: int
