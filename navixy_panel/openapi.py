"""/openapi.json: the OpenAPI 3.1 document of both faces, merged from their parts.

Each owner of paths writes its own part, from the marshmallow schemas it loads and
answers with, so the document cannot drift from the code: `navixy/openapi.py` (one
operation per declared action), `webitel/openapi.py` and `http/probes.py`. This module
only assembles them, with what belongs to the whole: the title, the description and
the server. The fuzz tests (schemathesis) hold the service to the document, examples
included: they are sent first.

Every operation has an `operationId`: a Navixy action's path with `_` for `/`
(`gateways_email_list`), `webitel_<verb>_<object>` for Webitel's, and the probes' own
names. They are part of the interface (client generators name methods after them):
keep them when refactoring.

The document depends on nothing but the code, so it is built once per process, at the
first request, and served as the same bytes afterwards.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from navixy_panel.http import probes
from navixy_panel.http.openapi_parts import JSON, Builder, component_name
from navixy_panel.mailapi import openapi as mailapi_part
from navixy_panel.navixy import openapi as navixy_part
from navixy_panel.webitel import openapi as webitel_part

routes = web.RouteTableDef()

_DESCRIPTION = (
    "Email gateways of a telematics platform's dealers: Navixy's Admin Panel API "
    "(`/v2/panel/...`, also served under `/panel/...` and by GET) and Webitel's email "
    "settings API (`/login`, `/api/v2/email/settings`).\n\n"
    "To try the Navixy actions: call `account/auth` with a login and password, then "
    "*Authorize* `NVX` with `NVX <hash>`. For Webitel's: call `/login`, then authorize "
    "`WebitelKey` with its `key` and `WebitelToken` with its `token`.\n\n"
    "To submit mail (`/mail/v1/messages`): authorize `SubmissionKey` with a dealer's "
    "submission key."
)


def build() -> dict[str, Any]:
    plugin = MarshmallowPlugin(schema_name_resolver=component_name)
    spec = APISpec(
        title="navixy-panel API", version="1", openapi_version="3.1.0", plugins=[plugin],
        # Relative: the server that served this document, wherever it runs.
        servers=[{"url": "/", "description": "The server this document came from."}],
        info={"description": _DESCRIPTION},
    )
    doc = Builder(spec, plugin)
    navixy_part.add_to(doc)
    webitel_part.add_to(doc)
    mailapi_part.add_to(doc)
    probes.add_to_openapi(doc)
    spec.path(path="/openapi.json", operations={"get": {
        "tags": ["probes"], "operationId": "openapi_document", "summary": "This document.",
        "security": [], "responses": {"200": {"description": "Success.", "content": {
            JSON: {"schema": {"type": "object"}}}}}}})
    document: dict[str, Any] = spec.to_dict()
    return document


@cache
def document() -> bytes:
    """The serialized document, built on first use."""
    return orjson.dumps(build())


@routes.get("/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=document(), content_type=JSON)
