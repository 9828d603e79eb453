"""A gateway as a client gives it and as the store holds it (never with its password)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class GatewayInput:
    """A validated gateway as a client sent it; `params` holds every key, password included."""

    label: str
    provider: str
    leasable: bool
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GatewayRecord:
    """A stored gateway without its password."""

    id: int
    label: str
    provider: str
    leasable: bool
    params: dict[str, Any]
