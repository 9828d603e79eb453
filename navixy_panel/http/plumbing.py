"""The leaf of the HTTP layer: JSON answers, reading parameters, flattening
validation messages, and the request tags the routing sets.

The routing tags each request with its face and action (`FACE`, `ACTION`); the
edge middleware renders failures through the tagged face and the metrics label
requests by the same tags, so nothing has to guess the face from the URL.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from aiohttp import web

from navixy_panel.domain.errors import InvalidInput


class Face(Protocol):
    """A wire format: how one API face answers failures."""

    name: str

    def error_response(self, request: web.Request, error: BaseException) -> web.Response:
        """The answer for `error`; `Unexpected` and `TimedOut` included."""
        ...


FACE = web.RequestKey("face", Face)
ACTION = web.RequestKey("action", str)
# The face's result code for metrics (Navixy code, or the HTTP status), when not 200.
RESULT_CODE = web.RequestKey("result_code", int)


class WireError(Exception):
    """Base of each face's own refusals that exist only on its wire (a malformed
    hash, an unknown handler); the edge does not log them as failures."""


class BodyError(Exception):
    """The request body could not be read: too large, or malformed."""

    def __init__(self, too_large: bool, detail: str | None = None) -> None:
        super().__init__(detail or ("too large" if too_large else "malformed"))
        self.too_large, self.detail = too_large, detail


class TimedOut(Exception):
    """The request ran past the request time-out."""


class Unexpected(Exception):
    """A bug; the details are in the log, never in the answer."""


def tag(request: web.Request, face: Face, action: str) -> None:
    request[FACE] = face
    request[ACTION] = action


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def flatten(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    """marshmallow's nested messages as (dotted path, message) pairs, sorted by path."""
    return sorted(_flatten(messages, prefix))


def _flatten(messages: Any, prefix: str) -> list[tuple[str, str]]:
    if isinstance(messages, dict):
        found: list[tuple[str, str]] = []
        for key, value in messages.items():
            name = str(key) if key != "_schema" else ""
            path = ".".join(part for part in (prefix, name) if part)
            found.extend(_flatten(value, path))
        return found
    if isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        return [(prefix or "params", " ".join(messages))]
    if isinstance(messages, list):
        return [e for m in messages for e in _flatten(m, prefix)]
    return [(prefix or "params", str(messages))]


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def read_params(request: web.Request, max_body_bytes: int, *,
                      empty_is_null: bool = False) -> dict[str, Any]:
    """Parameters merged from the query string and a form or JSON object body (the
    body wins); empty values count as absent, as Navixy's admin panel sends `hash=`.

    With `empty_is_null`, an empty value (`name=`, JSON null) is kept as None instead,
    for an action that must tell a field given empty from one not given at all (the
    panel's Ext JS sends a null field as `name=`)."""
    has_body = request.method not in ("GET", "HEAD") and request.body_exists
    if not has_body and not request.query_string:
        return {}  # the list call with the hash in a header: nothing to read
    params: dict[str, Any] = dict(request.query)
    if has_body:
        # Decided from the header, before reading: a huge body is never buffered.
        if request.content_length is not None and request.content_length > max_body_bytes:
            raise BodyError(too_large=True)
        params.update(await _read_body(request))
    check_values(params, "")
    if empty_is_null:
        return {name: None if value == "" else value for name, value in params.items()}
    return {name: value for name, value in params.items() if value != "" and value is not None}


MAX_DEPTH = 32  # no parameter of either face nests deeper than a few levels


def check_values(params: Any, path: str) -> None:
    """PostgreSQL text cannot hold U+0000: refuse it here (naming where) rather than fail
    in SQL. Iterative with a depth limit: JSON nested ~1,000 deep must be a 4xx, not a
    RecursionError here or later in validation."""
    pending: list[tuple[Any, str, int]] = [(params, path, 0)]
    while pending:
        value, where, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise BodyError(False, f"parameters nest deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            if "\x00" in value:
                raise InvalidInput.of(where or "params", "Must not contain the NUL character.")
        elif isinstance(value, dict):
            for key, item in value.items():
                pending.append((str(key), where, depth + 1))
                pending.append((item, f"{where}.{key}" if where else str(key), depth + 1))
        elif isinstance(value, list):
            pending.extend((item, where, depth + 1) for item in value)


async def _read_body(request: web.Request) -> dict[str, Any]:
    content_type = request.content_type
    try:
        if content_type == "multipart/form-data":
            form = await request.post()
            return {k: v for k, v in form.items() if isinstance(v, str)}
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyError(too_large=True) from None
    except ValueError:  # a multipart body without its boundary, or otherwise unreadable
        raise BodyError(False, "the multipart body cannot be read") from None
    if not raw.strip():
        return {}
    # `curl -d '{"hash": …}'` sends JSON labelled as a form; treat a body that
    # looks like a JSON object as JSON whatever its label says.
    if content_type == "application/json" or raw.lstrip().startswith(b"{"):
        return json_object(raw)
    if content_type in _FORM_TYPES or content_type == "application/octet-stream":
        try:
            form = await request.post()
        except ValueError:
            raise BodyError(False, "the form body cannot be read") from None
        return {k: v for k, v in form.items() if isinstance(v, str)}
    raise BodyError(False)


def json_object(raw: bytes | str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BodyError(False, "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise BodyError(False, "the JSON body must be an object")
    return value
