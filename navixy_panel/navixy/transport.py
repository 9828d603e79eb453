"""Where a Navixy client puts its session hash."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from navixy_panel.navixy.errors import NavixyError
from navixy_panel.security import tokens


def session_hash(request: web.Request, params: dict[str, Any]) -> str:
    """The hash parameter first, then `Authorization: NVX <hash>`; code 3 if absent or bad."""
    value = params.pop("hash", None)
    if value is None:
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme == "NVX" and credential:
            value = credential.strip()
    if not isinstance(value, str) or not tokens.is_well_formed(value):
        raise NavixyError(3)
    return value
