"""OpenAPI 3.1 document for both faces, generated from the marshmallow schemas.

Why generated: every Navixy action's parameters and result come from the very
schemas the dispatcher loads and answers with (`navixy.routes.ACTIONS`), so the
document cannot drift from the code; a new action appears in it by being
declared. Only what has no schema in the code is written here: the two
envelopes (Navixy's `success`/`status`, Webitel's `status`/`info`), the Webitel
answers built by `mapping.to_document`, and which error codes each action can
answer; and the examples (`NAVIXY_EXAMPLES`, `WEBITEL_EXAMPLES`), which tests
load through the very schemas the service uses. The fuzz tests
(tests/ops/test_openapi_fuzz.py) hold the service to the document, examples included:
schemathesis sends them first.

Every operation has an `operationId`: a Navixy action's path with `_` for `/`
(`gateways_email_list`), `webitel_<verb>_<object>` for Webitel's, and the probes'
own names. They are part of the interface (client generators name methods after
them): keep them when refactoring.

The document depends on nothing but the code, so it is built once per process,
at the first request, and served as the same bytes afterwards.

Why one module of ~450 lines: the builder writes, in one place, everything the
schemas cannot say (envelopes, error codes per action, Webitel's shapes); split,
a reader would chase one document across files. The examples are apart
(`openapi_examples.py`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import Schema, fields

from navixy_panel.domain.smtp_params import PASSWORD, SmtpParamsSchema
from navixy_panel.navixy.actions import Action
from navixy_panel.navixy.errors import ERROR_TABLE
from navixy_panel.navixy.routes import ACTIONS
from navixy_panel.navixy.validation import JsonObject
from navixy_panel.openapi_examples import (
    EXAMPLE_DOMAIN,
    EXAMPLE_RECIPIENT,
    NAVIXY_EXAMPLES,
    WEBITEL_ERROR_EXAMPLES,
    WEBITEL_EXAMPLES,
    NavixyExample,
)
from navixy_panel.webitel import auth as webitel_auth
from navixy_panel.webitel import mapping

routes = web.RouteTableDef()

JSON, FORM = "application/json", "application/x-www-form-urlencoded"
NAVIXY_PREFIX = "/v2/panel/"
WEBITEL_SECURITY: list[dict[str, list[str]]] = [{"WebitelKey": [], "WebitelToken": []}]

# Codes any Navixy action can answer: bad body (5), unexpected failure (6),
# oversized body (9), database unavailable (14).
_ANY_ACTION = (5, 6, 9, 14)
# Codes that come from what an action does, beyond session, permission and validation.
_ACTION_CODES: dict[str, tuple[int, ...]] = {
    "account/auth": (11, 12, 15),
    "gateways/email/update": (201, 261),
    "gateways/email/delete": (201, 261),
    "gateways/email/bind": (201,),
    "gateways/email/send_email": (15, 201, 209),
}

# Webitel statuses: each operation's own, plus these for all (bad body, oversized
# body, unexpected failure, database unavailable).
_WEBITEL_ANY = (400, 413, 500, 503)
_WEBITEL_INFO = {
    400: "Bad request: malformed body, missing domain or invalid fields (named in `info`).",
    401: "`Invalid token`, `Token Expired`, `Invalid User` or `Invalid credentials`.",
    403: "`Permission denied!` (domain out of reach or permission missing), or the "
         "dealer is blocked.",
    404: "No email settings for the domain.",
    409: "Refused: sub-dealers are bound to the gateway (Navixy code 261).",
    413: "Request too large.",
    429: "Too many requests.",
    500: "Internal server error.",
    502: "The SMTP server refused or could not be reached; its reply code in `code`.",
    503: "Database unavailable.",
}


_DESCRIPTION = (
    "Email gateways of a telematics platform's dealers: Navixy's Admin Panel API "
    "(`/v2/panel/...`, also served under `/panel/...` and by GET) and Webitel's email "
    "settings API (`/login`, `/api/v2/email/settings`).\n\n"
    "To try the Navixy actions: call `account/auth` with a login and password, then "
    "*Authorize* `NVX` with `NVX <hash>`. For Webitel's: call `/login`, then authorize "
    "`WebitelKey` with its `key` and `WebitelToken` with its `token`."
)


def _schema_name(schema: type[Schema] | Schema) -> str:
    cls = resolve_schema_cls(schema)
    assert not isinstance(cls, list)  # our schemas are single classes
    name = cls.__name__.removesuffix("Schema")
    # Webitel's nested schemas have generic names (Auth, Options): keep them apart.
    return f"Webitel{name}" if cls.__module__.startswith("navixy_panel.webitel") else name


class _Builder:
    """One document: apispec's marshmallow converter plus the shapes written here."""

    def __init__(self) -> None:
        self.plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
        self.spec = APISpec(
            title="navixy-panel API", version="1", openapi_version="3.1.0",
            plugins=[self.plugin],
            # Relative: the server that served this document, wherever it runs.
            servers=[{"url": "/", "description": "The server this document came from."}],
            info={"description": _DESCRIPTION},
        )
        components = self.spec.components
        components.security_scheme("NVX", {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`NVX <hash>`, the hash from `account/auth`. A `hash` parameter "
                           "(query, form or JSON body) is also accepted and wins.",
        })
        components.security_scheme("WebitelKey", {
            "type": "apiKey", "in": "header", "name": "X-Key",
            "description": "The `key` from `POST /login` (or the `x_key` parameter).",
        })
        components.security_scheme("WebitelToken", {
            "type": "apiKey", "in": "header", "name": "X-Access-Token",
            "description": "The `token` from `POST /login` (or the `access_token` parameter).",
        })
        for name, schema in _FIXED_SCHEMAS.items():
            components.schema(name, schema)

    # -- marshmallow ------------------------------------------------------------
    def _object(self, schema: type[Schema]) -> dict[str, Any]:
        """Inline JSON Schema of a marshmallow schema (nested ones become components)."""
        converter = self.plugin.converter
        assert converter is not None  # set once the plugin is registered with the spec
        result: dict[str, Any] = converter.schema2jsonschema(schema())
        return result

    def _ref(self, schema: type[Schema]) -> dict[str, Any]:
        converter = self.plugin.converter
        assert converter is not None
        result: dict[str, Any] = converter.resolve_nested_schema(schema)
        return result

    def _params(self, schema: type[Schema], media: str) -> dict[str, Any]:
        """A params schema as one body encoding: a structured parameter (`gateway`) is a
        JSON object in JSON and a JSON-encoded string in a form."""
        body = self._object(schema)
        for name, field in schema().fields.items():
            if not isinstance(field, JsonObject):
                continue
            key = field.data_key or name
            target = self._ref(field.schema_class)
            if media == JSON:
                body["properties"][key] = target
            else:
                body["properties"][key] = {
                    "type": "string", "contentMediaType": JSON, "contentSchema": target,
                    "description": "The object, JSON-encoded.",
                }
        return body

    # -- Navixy -----------------------------------------------------------------
    def navixy_action(self, action: Action) -> None:
        example = NAVIXY_EXAMPLES.get(action.path)
        operation: dict[str, Any] = {
            "tags": [action.path.split("/", 1)[0]],
            "operationId": navixy_operation_id(action.path),
            "summary": action.summary.replace("`", ""),  # plain text
            "security": [{"NVX": []}] if action.needs_session else [],
            "responses": {"200": self._navixy_success(action.response, example),
                          **self._navixy_errors(action)},
        }
        if action.permission is not None:
            category, name = action.permission
            operation["description"] = f"Needs the permission `{category}: {name}`."
        if action.params is not None:
            params = example.params if example is not None else None
            operation["requestBody"] = {"required": True, "content": {
                media: _media(self._params(action.params, media),
                              None if params is None else encode_example(action.params, params,
                                                                         media))
                for media in (JSON, FORM)
            }}
        self.spec.path(path=NAVIXY_PREFIX + action.path, operations={"post": operation})

    def _navixy_success(self, response: type[Schema] | None,
                        example: NavixyExample | None) -> dict[str, Any]:
        properties: dict[str, Any] = {"success": {"type": "boolean", "const": True}}
        if response is not None:
            properties.update(self._object(response)["properties"])
        schema = {"type": "object", "properties": properties,
                  # every declared field is always present in an answer
                  "required": list(properties), "additionalProperties": False}
        answer = None if example is None else {"success": True, **example.answer}
        return {"description": "Success.", "content": {JSON: _media(schema, answer)}}

    def _navixy_errors(self, action: Action) -> dict[str, Any]:
        codes = set(_ANY_ACTION) | set(_ACTION_CODES.get(action.path, ()))
        if action.needs_session:
            codes |= {3, 4}
        if action.permission is not None:
            codes.add(13)
        if action.params is not None:
            codes.add(7)
        by_status: dict[int, list[int]] = {}
        for code in sorted(codes):
            by_status.setdefault(ERROR_TABLE[code][1], []).append(code)
        return {
            str(status): {
                "description": "Navixy error, `status.code` "
                               + ", ".join(f"{c} ({ERROR_TABLE[c][0]})" for c in found) + ".",
                "content": {JSON: _media(_ref("NavixyError"),
                                         _navixy_error_example(action, found))},
            }
            for status, found in sorted(by_status.items())
        }

    # -- Webitel ----------------------------------------------------------------
    def webitel(self, path: str, method: str, *, operation_id: str, summary: str,
                statuses: tuple[int, ...], success: dict[str, Any], answer: dict[str, Any],
                body: dict[str, Any] | None = None, secured: bool = True, domain: bool = True,
                parameters: list[dict[str, Any]] | None = None,
                errors: dict[int, str] | None = None) -> None:
        """`answer` is the success example; `errors` overrides `WEBITEL_ERROR_EXAMPLES`."""
        params = list(parameters or [])
        if domain:
            params.append({"name": "domain", "in": "query", "required": False,
                           "schema": {"type": "string"}, "example": EXAMPLE_DOMAIN,
                           "description": "The domain acted on; the caller's own when absent."})
        responses: dict[str, Any] = {"200": {"description": "Success.",
                                             "content": {JSON: _media(success, answer)}}}
        for status in sorted(set(statuses) | set(_WEBITEL_ANY)):
            error: dict[str, Any] = {"status": "error", "info": {
                **WEBITEL_ERROR_EXAMPLES, **(errors or {})}[status]}
            if status == 502:
                error["code"] = 535
            responses[str(status)] = {
                "description": _WEBITEL_INFO[status],
                "content": {JSON: _media(_ref("WebitelError"), error)},
            }
        operation: dict[str, Any] = {"tags": ["webitel"], "operationId": operation_id,
                                     "summary": summary,
                                     "security": WEBITEL_SECURITY if secured else [],
                                     "responses": responses}
        if params:
            operation["parameters"] = params
        if body is not None:
            operation["requestBody"] = {"required": True, "content": body}
        self.spec.path(path=path, operations={method: operation})

    def build(self) -> dict[str, Any]:
        for action in ACTIONS.values():
            self.navixy_action(action)
        self._webitel_paths()
        self._probes()
        document: dict[str, Any] = self.spec.to_dict()
        self._own_params(document["components"]["schemas"])
        return document

    def _own_params(self, schemas: dict[str, Any]) -> None:
        """`own[].params` is a plain dict in OwnGatewayOut; what it holds is known: every
        SMTP key (stored params are complete), the password always null."""
        if "OwnGatewayOut" not in schemas:
            return
        given = self._object(SmtpParamsSchema)["properties"]
        properties = {key: {k: v for k, v in prop.items() if k != "default"}
                      for key, prop in given.items()}
        properties[PASSWORD] = {"type": "null", "description": "Never returned."}
        schemas["SmtpParamsOut"] = _closed(properties)
        schemas["OwnGatewayOut"]["properties"]["params"] = _ref("SmtpParamsOut")

    def _webitel_paths(self) -> None:
        login = self._object(webitel_auth.LoginParams)
        login_example = WEBITEL_EXAMPLES["login"]
        self.webitel("/login", "post", operation_id="webitel_login",
                     summary="Log in: a revocable key and a signed token.",
                     statuses=(400, 401, 403, 429), success=_ref("WebitelLogin"),
                     answer=WEBITEL_EXAMPLES["login_answer"],
                     body={JSON: _media(login, login_example), FORM: _media(login, login_example)},
                     secured=False, domain=False,
                     errors={400: "username: Missing data for required field.",
                             401: "Invalid credentials", 403: "Access denied"})
        self.webitel("/logout", "post", operation_id="webitel_logout", summary="End the key.",
                     statuses=(401,), success=_ref("WebitelStatus"),
                     answer={"status": "OK", "info": "Successful logout."}, domain=False)
        settings_schema = self._ref(mapping.SettingsSchema)
        path, document = "/api/v2/email/settings", _ref("WebitelSettingsOut")
        self.webitel(path, "get", operation_id="webitel_get_email_settings",
                     summary="The domain's email settings.", statuses=(401, 403, 404),
                     success=document, answer=WEBITEL_EXAMPLES["settings_answer"])
        self.webitel(path, "post", operation_id="webitel_create_email_settings",
                     summary="Create (and bind) or replace the settings.",
                     statuses=(401, 403, 404, 409), success=document,
                     answer=WEBITEL_EXAMPLES["settings_answer"],
                     body={JSON: _media(settings_schema, WEBITEL_EXAMPLES["settings"])})
        self.webitel(path, "put", operation_id="webitel_replace_email_settings",
                     summary="Replace existing settings.", statuses=(401, 403, 404, 409),
                     success=document, answer=WEBITEL_EXAMPLES["replaced_answer"],
                     body={JSON: _media(settings_schema, WEBITEL_EXAMPLES["replacement"])})
        self.webitel(path, "delete", operation_id="webitel_delete_email_settings",
                     summary="Delete the settings' gateway.", statuses=(401, 403, 404, 409),
                     success=_ref("WebitelRemoved"),
                     answer={"status": "OK", "Info": "Removed 1 record."})
        to = {"type": "string", "format": "email"}
        test_statuses = (401, 403, 404, 429, 502)
        sent = WEBITEL_EXAMPLES["sent_answer"]
        self.webitel(path + "/test/{to}", "post", operation_id="webitel_send_test_email_to",
                     summary="Send a test message to the path's address.", statuses=test_statuses,
                     success=_ref("WebitelSent"), answer=sent,
                     parameters=[{"name": "to", "in": "path", "required": True, "schema": to,
                                  "example": EXAMPLE_RECIPIENT}])
        to_body = {"type": "object", "required": ["to"], "properties": {"to": to}}
        to_example = {"to": EXAMPLE_RECIPIENT}
        self.webitel(path + "/test", "post", operation_id="webitel_send_test_email",
                     summary="Send a test message to the body's address.", statuses=test_statuses,
                     success=_ref("WebitelSent"), answer=sent,
                     body={JSON: _media(to_body, to_example), FORM: _media(to_body, to_example)})

    def _probes(self) -> None:
        def answer(schema: dict[str, Any], description: str = "Success.",
                   example: dict[str, Any] | None = None) -> dict[str, Any]:
            return {"description": description, "content": {JSON: _media(schema, example)}}

        ok = {"type": "object", "required": ["status"], "additionalProperties": False,
              "properties": {"status": {"const": "ok"}}}
        ready = {"type": "object", "required": ["status", "database"],
                 "additionalProperties": False,
                 "properties": {"status": {"enum": ["ok", "unavailable"]},
                                "database": {"enum": ["ok", "unreachable"]}}}
        self.spec.path(path="/health", operations={"get": {
            "tags": ["probes"], "operationId": "health", "summary": "The process answers.",
            "security": [], "responses": {"200": answer(ok, example={"status": "ok"})}}})
        self.spec.path(path="/ready", operations={"get": {
            "tags": ["probes"], "operationId": "ready", "summary": "The database answers.",
            "security": [],
            "responses": {
                "200": answer(ready, example={"status": "ok", "database": "ok"}),
                "503": answer(ready, "The database does not answer.",
                              {"status": "unavailable", "database": "unreachable"})}}})
        self.spec.path(path="/openapi.json", operations={"get": {
            "tags": ["probes"], "operationId": "openapi_document", "summary": "This document.",
            "security": [], "responses": {"200": answer({"type": "object"})}}})


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _media(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    """A media type object: the schema, and the example when there is one."""
    return {"schema": schema} if example is None else {"schema": schema, "example": example}


def navixy_operation_id(path: str) -> str:
    """`gateways/email/list` → `gateways_email_list`."""
    return path.replace("/", "_")


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": False}


_STRING, _NULL_STRING = {"type": "string"}, {"type": ["string", "null"]}
_PERMISSIONS = {"type": "object", "additionalProperties": {"type": "array",
                                                            "items": {"type": "string"}}}

_FIXED_SCHEMAS: dict[str, dict[str, Any]] = {
    "NavixyError": _closed({
        "success": {"type": "boolean", "const": False},
        "status": _closed({"code": {"type": "integer"}, "description": _STRING}),
        "errors": {"type": "array", "description": "With code 7: one entry per bad "
                   "parameter, nested ones as a dotted path.",
                   "items": _closed({"parameter": _STRING, "error": _STRING})},
    }, required=["success", "status"]),
    "WebitelError": _closed({
        "status": {"const": "error"}, "info": _STRING,
        "code": {"description": "With 502: the SMTP server's reply code, when it replied."},
    }, required=["status", "info"]),
    "WebitelLogin": _closed({
        "key": _STRING, "token": {"type": "string", "description": "HS256 JWT; `exp` in ms."},
        "expires": {"type": "integer", "description": "The token's `exp`, in milliseconds."},
        "domain": _NULL_STRING, "acl": _PERMISSIONS,
    }),
    "WebitelStatus": _closed({"status": {"const": "OK"}, "info": _STRING}),
    "WebitelRemoved": _closed({"status": {"const": "OK"},
                               "Info": {"type": "string", "pattern": "^Removed [01] record\\.$"}}),
    "WebitelSent": _closed({"status": {"const": "OK"},
                            "info": _closed({"messageId": _STRING, "response": _STRING})}),
    "WebitelSettingsOut": _closed({
        "_id": {"type": "string", "description": "The gateway id."},
        "provider": _STRING, "description": _STRING, "from": _NULL_STRING,
        "options": _closed({
            "host": _STRING, "port": {"type": "integer"}, "secure": {"type": "boolean"},
            "debug": {"type": "boolean"},
            "tls": _closed({"rejectUnauthorized": {"type": "boolean"}}),
            "auth": {"oneOf": [{"type": "null"}, _closed({
                "user": _NULL_STRING,
                "pass": {"type": "null", "description": "Never returned."}})]},
        }),
        "domain": _STRING,
    }),
}


def encode_example(schema: type[Schema], params: dict[str, Any], media: str) -> dict[str, Any]:
    """Example params in one body encoding: structured ones JSON-encoded in a form."""
    if media == JSON:
        return params
    structured = {field.data_key or name for name, field in schema().fields.items()
                  if isinstance(field, JsonObject)}
    return {key: orjson.dumps(value).decode() if key in structured else value
            for key, value in params.items()}


def _navixy_error_example(action: Action, codes: list[int]) -> dict[str, Any]:
    """One of the codes an HTTP status carries: the action's own first, then 7."""
    own = [code for code in codes if code in _ACTION_CODES.get(action.path, ())]
    code = own[0] if own else 7 if 7 in codes else codes[0]
    example: dict[str, Any] = {"success": False,
                               "status": {"code": code, "description": ERROR_TABLE[code][0]}}
    if code == 7 and action.params is not None:
        name, field = next(iter(action.params().fields.items()))
        example["errors"] = [{"parameter": field.data_key or name,
                              "error": "Missing data for required field." if field.required
                              else _invalid(field)}]
    return example


def _invalid(field: fields.Field) -> str:
    message = field.error_messages.get("invalid", "Invalid value.")
    return message if isinstance(message, str) else "Invalid value."


@cache
def document() -> bytes:
    """The serialized document, built on first use."""
    return orjson.dumps(_Builder().build())


@routes.get("/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=document(), content_type=JSON)
