"""How Navixy clients pass parameters and the session hash.

Navixy accepts any parameter from the query string, a form body (urlencoded or
multipart) or a JSON object body; the body wins over the query. Navixy's own
admin panel sends form bodies with an empty `hash=` on `auth`, so an empty
value counts as absent.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from navixy_panel.errors import ApiError, ParamError
from navixy_panel.security import tokens

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def read_params(request: web.Request, max_body_bytes: int) -> dict[str, Any]:
    """Merged parameters; raises code 9 for an oversized body, 5 for malformed JSON."""
    has_body = request.method not in ("GET", "HEAD") and request.body_exists
    if not has_body and not request.query_string:
        return {}  # the list call with the hash in a header: nothing to read
    params: dict[str, Any] = dict(request.query)
    if has_body:
        _refuse_oversized(request, max_body_bytes)
        params.update(await _read_body(request))
    _refuse_nul(params, "")
    return {name: value for name, value in params.items() if value != "" and value is not None}


def _refuse_nul(value: Any, path: str) -> None:
    """PostgreSQL text cannot hold U+0000; refuse it here (code 7) rather than fail in SQL."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ApiError(7, errors=[ParamError(path or "params",
                                                 "Must not contain the NUL character.")])
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(str(key), path)
            _refuse_nul(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            _refuse_nul(item, path)


def _refuse_oversized(request: web.Request, max_body_bytes: int) -> None:
    # Decided from the header, before reading: a huge body is never buffered.
    if request.content_length is not None and request.content_length > max_body_bytes:
        raise ApiError(9)


async def _read_body(request: web.Request) -> dict[str, Any]:
    content_type = request.content_type
    try:
        if content_type == "multipart/form-data":
            form = await request.post()
            return {k: v for k, v in form.items() if isinstance(v, str)}
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(9) from None
    except ValueError:  # a multipart body without its boundary, or otherwise unreadable
        raise ApiError(5, "Wrong request format: the multipart body cannot be read") from None
    if not raw.strip():
        return {}
    # `curl -d '{"hash": …}'` sends JSON labelled as a form; treat a body that
    # looks like a JSON object as JSON whatever its label says.
    if content_type == "application/json" or raw.lstrip().startswith(b"{"):
        return _json_object(raw)
    if content_type in _FORM_TYPES or content_type == "application/octet-stream":
        try:
            form = await request.post()
        except ValueError:
            raise ApiError(5, "Wrong request format: the form body cannot be read") from None
        return {k: v for k, v in form.items() if isinstance(v, str)}
    raise ApiError(5)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(5, "Wrong request format: the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(5, "Wrong request format: the JSON body must be an object")
    return value


def session_hash(request: web.Request, params: dict[str, Any]) -> str:
    """The hash parameter first, then `Authorization: NVX <hash>`; code 3 if absent or bad."""
    value = params.pop("hash", None)
    if value is None:
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme == "NVX" and credential:
            value = credential.strip()
    if not isinstance(value, str) or not tokens.is_well_formed(value):
        raise ApiError(3)
    return value
