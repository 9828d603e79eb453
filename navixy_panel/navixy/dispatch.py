"""The Navixy face: one route per prefix, dispatching `<handler>/<action>`.

A single catch-all route (rather than one aiohttp route per action) is what
lets unknown actions answer Navixy's code 111 and other methods code 112,
instead of aiohttp's HTML 404/405.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import orjson
from aiohttp import web
from marshmallow import ValidationError

from navixy_panel import keys, permissions
from navixy_panel.errors import ApiError
from navixy_panel.navixy import account, gateways, notification
from navixy_panel.navixy.actions import Action, Call
from navixy_panel.navixy.transport import read_params, session_hash
from navixy_panel.navixy.validation import to_api_error
from navixy_panel.security import tokens
from navixy_panel.services import sessions

PREFIXES = ("/v2/panel/", "/panel/")

ACTIONS: dict[str, Action] = {
    action.path: action
    for table in (account.actions, gateways.actions, notification.actions)
    for action in table
}


def json_response(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def handle(request: web.Request, action_path: str | None = None) -> web.Response:
    action = ACTIONS.get(action_path or request.match_info["action"].strip("/"))
    if action is None:
        raise ApiError(111)
    if request.method not in ("GET", "POST"):
        raise ApiError(112)
    settings = request.app[keys.SETTINGS]  # the root app: no ChainMap lookup per request
    params = await read_params(request, settings.max_body_bytes)
    hash_value = session_hash(request, params) if action.needs_session else None
    params.pop("hash", None)

    call = Call(request, settings, params)
    committed = False  # a cached answer opens no database session: nothing to finish
    try:
        if hash_value is not None:
            call.caller = await _caller(call, hash_value)
            if action.permission and not permissions.allows(call.caller.permissions,
                                                            *action.permission):
                raise ApiError(13)
        if action.params is not None:
            try:
                call.params = action.params().load(params)
            except ValidationError as exc:
                raise to_api_error(exc) from None
        result = await action.handler(call)
        if call.has_session:
            await call.finish(commit=True)
        committed = True
    finally:
        if not committed and call.has_session:
            await call.finish(commit=False)
    if action.invalidates:
        call.caches.clear()  # this instance sees its own write at once
    if isinstance(result, bytes):
        return web.Response(body=result, content_type="application/json")
    return json_response({"success": True, **result})


async def _caller(call: Call, hash_value: str) -> sessions.Caller:
    """The session's dealer from the cache, else one statement (then cached)."""
    caches = call.caches
    digest = tokens.digest(hash_value)
    cached = caches.sessions.get(digest) if caches.enabled else None
    if cached is not None and cached.expires_at.timestamp() > time.time():
        return cached
    generation = caches.generation
    caller = await sessions.resolve(call.session, hash_value)
    if caller is None:
        raise ApiError(4)
    caches.store(caches.sessions, generation, digest, caller)
    return caller


def add_routes(app: web.Application) -> None:
    # Known actions as plain paths first: aiohttp finds those by dictionary lookup,
    # without trying the catch-all's regular expression (the list path is hot).
    for prefix in PREFIXES:
        for path in ACTIONS:
            for variant in (prefix + path, prefix + path + "/"):
                app.router.add_route("*", variant, partial(handle, action_path=path))
        app.router.add_route("*", prefix + "{action:.*}", handle)
