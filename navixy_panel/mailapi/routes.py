"""`/mail/v1/…`: URL → handler, and the handlers (thin: parse, call the use case, answer).

The body limit here is the message limit (10 MB decoded by default, so about 13.4 MB
of base64 in JSON), not the panel's 1 MB: the body is read in chunks up to that
bound, before any of it is parsed. Large bodies are parsed and validated in a
thread, so a 10 MB attachment does not hold the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import orjson
from aiohttp import web
from marshmallow import ValidationError

from navixy_panel.domain.delivery import MessageView, Submission
from navixy_panel.domain.errors import BadCredentials
from navixy_panel.http import keys
from navixy_panel.http.plumbing import BodyError, json_response, tag
from navixy_panel.mailapi import schemas
from navixy_panel.mailapi.errors import FACE
from navixy_panel.usecases import keys as key_usecases
from navixy_panel.usecases import messages

MESSAGES = "/mail/v1/messages"
JSON_OVERHEAD = 256 * 1024  # subject, addresses, text and JSON syntax around the base64
THREAD_FROM_BYTES = 256 * 1024


def _secret(request: web.Request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise BadCredentials()
    return value


async def submit(request: web.Request) -> web.Response:
    tag(request, FACE, "messages.submit")
    ctx = request.app[keys.CONTEXT]
    secret = _secret(request)
    raw = await _read(request, ctx.settings.message_max_bytes * 4 // 3 + JSON_OVERHEAD)
    try:
        if len(raw) >= THREAD_FROM_BYTES:
            submission = await asyncio.to_thread(_parse, raw)
        else:
            submission = _parse(raw)
    except (ValidationError, BodyError):
        # A refused body tells nothing to a caller without a valid key.
        await key_usecases.authenticate(ctx, secret)
        raise
    accepted = await messages.submit(ctx, secret, submission)
    # A repeated idempotency key gets the first answer again (with the current status),
    # so a client retrying after a lost answer cannot tell, and need not.
    return json_response({"id": accepted.id, "status": accepted.status}, 202)


async def read(request: web.Request) -> web.Response:
    tag(request, FACE, "messages.read")
    ctx = request.app[keys.CONTEXT]
    found = await messages.read_with_key(ctx, _secret(request), request.match_info["id"])
    return json_response(answer(found))


def answer(found: MessageView) -> dict[str, Any]:
    body = asdict(found)
    body.pop("next_attempt")
    return body


def _parse(raw: bytes) -> Submission:
    if not raw.strip():
        raise BodyError(False, "The body must be a JSON object.")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BodyError(False, "The body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise BodyError(False, "The body must be a JSON object.")
    return schemas.to_submission(schemas.SUBMISSION.load(value))


async def _read(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise BodyError(too_large=True)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise BodyError(too_large=True)
        chunks.append(chunk)
    return b"".join(chunks)


async def unknown(request: web.Request) -> web.Response:
    tag(request, FACE, "unknown")
    raise web.HTTPNotFound()


def add_routes(app: web.Application) -> None:
    app.router.add_post(MESSAGES, submit)
    app.router.add_get(MESSAGES + "/{id}", read)
    app.router.add_route("*", "/mail/v1/{tail:.*}", unknown)
