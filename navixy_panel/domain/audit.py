"""One change in a dealer's audit trail, as that dealer may see it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    time: dt.datetime
    actor: str  # the dealer's own login, or "parent" / "operator" (services/audit.py)
    face: str
    client_address: str | None  # only for the viewer's own changes
    action: str
    gateway_id: int | None
    changes: dict[str, Any]  # {field: [old, new]}, never a secret value
