"""The Navixy face's routes: `/v2/panel/<handler>/<action>` and `/panel/…`.

Each known action is a plain route (aiohttp finds it by dictionary lookup; the
list path is hot), and one catch-all per prefix answers unknown actions with
Navixy's code 111 and other methods with 112, instead of aiohttp's HTML 404/405.
The handler of any URL is the function registered under its action path, in
`navixy/account.py`, `navixy/gateways_email.py`, `navixy/keys.py` or
`navixy/notification.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from aiohttp import web
from marshmallow import ValidationError

from navixy_panel.http import keys
from navixy_panel.http.plumbing import read_params, tag
from navixy_panel.navixy import account, gateways_email, messages, notification
from navixy_panel.navixy import keys as submission_keys
from navixy_panel.navixy.actions import Action, Call
from navixy_panel.navixy.errors import FACE, NavixyError, from_validation
from navixy_panel.navixy.transport import session_hash
from navixy_panel.usecases import logins

PREFIXES = ("/v2/panel/", "/panel/")

ACTIONS: dict[str, Action] = {
    action.path: action
    for table in (account.actions, gateways_email.actions, submission_keys.actions,
                  messages.actions, notification.actions)
    for action in table
}


async def handle(request: web.Request, action_path: str | None = None,
                 actions: Mapping[str, Action] = ACTIONS) -> web.Response:
    path = action_path or request.match_info["action"].strip("/")
    action = actions.get(path)
    tag(request, FACE, path if action is not None else "unknown")
    if action is None:
        raise NavixyError(111)
    if request.method not in ("GET", "POST"):
        raise NavixyError(112)
    ctx = request.app[keys.CONTEXT]  # the root app: no ChainMap lookup per request
    params = await read_params(request, ctx.settings.max_body_bytes,
                               empty_is_null=action.empty_is_null)
    caller = prefetched = None
    if action.needs_session:
        secret = session_hash(request, params)
        if action.resolve is not None:
            caller, prefetched = await action.resolve(ctx, secret)
        else:
            caller = await logins.resolve(ctx, secret)
        if action.permission and not caller.may(*action.permission):
            raise NavixyError(13)
    params.pop("hash", None)
    if action.params is not None:
        try:
            params = action.params().load(params)
        except ValidationError as exc:
            raise from_validation(exc) from None
    body = await action.handler(Call(request, ctx, params, caller, prefetched))
    return web.Response(body=body, content_type="application/json")


def add_routes(app: web.Application, actions: Mapping[str, Action] = ACTIONS) -> None:
    """Routes for `actions`: the service's own table, or a test's with an action added."""
    for prefix in PREFIXES:
        for path in actions:
            for variant in (prefix + path, prefix + path + "/"):
                app.router.add_route("*", variant,
                                     partial(handle, action_path=path, actions=actions))
        app.router.add_route("*", prefix + "{action:.*}", partial(handle, actions=actions))
