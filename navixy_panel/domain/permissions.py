"""Navixy's permission catalogue: `{category: [operation, ...]}`.

A category may be absent rather than empty; an absent category grants nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

# From Navixy's panel docs plus the OpenAPI `PanelPermissions` schema
# (which adds paas_payments and paas_tariff).
CATALOGUE: dict[str, tuple[str, ...]] = {
    "accounting": ("generate",),
    "activation_code": ("create", "read", "update"),
    "base": ("get_dealer_info",),
    "email_gateways": ("create", "delete", "read", "send_email", "update"),
    "notification_settings": ("read", "update"),
    "paas_payments": ("create", "send_email"),
    "paas_tariff": ("read",),
    "password": ("update",),
    "service_settings": ("read", "update"),
    "sms": ("create",),
    "subpaas": ("create", "delete", "read", "update"),
    "tariffs": ("create", "read", "update"),
    "trackers": ("corrupt", "create", "delete", "global", "read", "report", "update"),
    "tracker_bundles": ("read", "update"),
    "transactions": ("create", "read", "update"),
    "users": ("corrupt", "create", "read", "update", "delete"),
    "user_sessions": ("create",),
}

Permissions = Mapping[str, Sequence[str]]


def everything() -> dict[str, list[str]]:
    return {category: list(ops) for category, ops in CATALOGUE.items()}


def allows(permissions: Permissions, category: str, operation: str) -> bool:
    return operation in permissions.get(category, ())


def parse(raw: str) -> dict[str, list[str]]:
    """`all` or a JSON object of known categories and operations (for the CLI)."""
    if raw.strip() == "all":
        return everything()
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError("permissions must be 'all' or a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError("permissions must be a JSON object {category: [operation, ...]}")
    result: dict[str, list[str]] = {}
    for category, ops in value.items():
        if category not in CATALOGUE:
            raise ValueError(f"unknown permission category {category!r}")
        if not isinstance(ops, list) or not all(isinstance(op, str) for op in ops):
            raise ValueError(f"permissions of {category!r} must be a list of strings")
        unknown = sorted(set(ops) - set(CATALOGUE[category]))
        if unknown:
            raise ValueError(f"unknown operations for {category!r}: {', '.join(unknown)}")
        result[category] = sorted(set(ops))
    return result
