"""The Navixy face's part of the OpenAPI document: one operation per declared action.

Every action's parameters and result come from the very schemas the dispatcher loads
and answers with, its error codes from its declaration (`navixy/actions.py`), so this
part cannot drift from the code: a new action appears here by being declared. Written
here is only what has no schema in the code: Navixy's envelopes (`success`, `status`)
and the example error of each HTTP status. The examples are in `openapi_examples.py`.
"""

from __future__ import annotations

from typing import Any

import orjson
from marshmallow import Schema, fields

from navixy_panel.domain.smtp_params import EXTENSION_KEYS, PASSWORD, SmtpParamsSchema
from navixy_panel.http.openapi_parts import (
    FORM,
    JSON,
    STRING,
    Builder,
    closed,
    media,
    ref,
)
from navixy_panel.navixy.actions import Action
from navixy_panel.navixy.errors import ERROR_TABLE
from navixy_panel.navixy.openapi_examples import EXAMPLES, NavixyExample
from navixy_panel.navixy.routes import ACTIONS
from navixy_panel.navixy.validation import JsonObject

PREFIX = "/v2/panel/"

NAVIXY_ERROR = closed({
    "success": {"type": "boolean", "const": False},
    "status": closed({"code": {"type": "integer"}, "description": STRING}),
    "errors": {"type": "array", "description": "With code 7: one entry per bad "
               "parameter, nested ones as a dotted path.",
               "items": closed({"parameter": STRING, "error": STRING})},
}, required=["success", "status"])


def add_to(doc: Builder) -> None:
    doc.spec.components.security_scheme("NVX", {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "`NVX <hash>`, the hash from `account/auth`. A `hash` parameter "
                       "(query, form or JSON body) is also accepted and wins.",
    })
    doc.spec.components.schema("NavixyError", NAVIXY_ERROR)
    for action in ACTIONS.values():
        _add_action(doc, action)
    _own_params(doc)


def _add_action(doc: Builder, action: Action) -> None:
    example = EXAMPLES.get(action.path)
    operation: dict[str, Any] = {
        "tags": [action.path.split("/", 1)[0]],
        "operationId": action.operation_id,
        "summary": action.summary.replace("`", ""),  # plain text
        "security": [{"NVX": []}] if action.needs_session else [],
        "responses": {"200": _success(doc, action.response, example), **_errors(action)},
    }
    if action.permission is not None:
        category, name = action.permission
        operation["description"] = f"Needs the permission `{category}: {name}`."
    if action.params is not None:
        params = example.params if example is not None else None
        operation["requestBody"] = {"required": True, "content": {
            media_type: media(
                _params(doc, action.params, media_type),
                None if params is None else encode_example(action.params, params, media_type))
            for media_type in (JSON, FORM)
        }}
    doc.spec.path(path=PREFIX + action.path, operations={"post": operation})


def _params(doc: Builder, schema: type[Schema], media_type: str) -> dict[str, Any]:
    """A params schema as one body encoding: a structured parameter (`gateway`) is a
    JSON object in JSON and a JSON-encoded string in a form."""
    body = doc.inline(schema)
    for name, field in schema().fields.items():
        if not isinstance(field, JsonObject):
            continue
        key = field.data_key or name
        target = doc.nested(field.schema_class)
        if media_type == JSON:
            body["properties"][key] = target
        else:
            body["properties"][key] = {
                "type": "string", "contentMediaType": JSON, "contentSchema": target,
                "description": "The object, JSON-encoded.",
            }
    return body


def _success(doc: Builder, response: type[Schema] | None,
             example: NavixyExample | None) -> dict[str, Any]:
    properties: dict[str, Any] = {"success": {"type": "boolean", "const": True}}
    if response is not None:
        properties.update(doc.inline(response)["properties"])
    # every declared field is always present in an answer
    schema = closed(properties)
    answer = None if example is None else {"success": True, **example.answer}
    return {"description": "Success.", "content": {JSON: media(schema, answer)}}


def _errors(action: Action) -> dict[str, Any]:
    by_status: dict[int, list[int]] = {}
    for code in sorted(action.error_codes()):
        by_status.setdefault(ERROR_TABLE[code][1], []).append(code)
    return {
        str(status): {
            "description": "Navixy error, `status.code` "
                           + ", ".join(f"{c} ({ERROR_TABLE[c][0]})" for c in found) + ".",
            "content": {JSON: media(ref("NavixyError"), _error_example(action, found))},
        }
        for status, found in sorted(by_status.items())
    }


def _error_example(action: Action, codes: list[int]) -> dict[str, Any]:
    """One of the codes an HTTP status carries: the action's own first, then 7."""
    own = [code for code in codes if code in action.errors]
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


def _own_params(doc: Builder) -> None:
    """`own[].params` is a plain dict in OwnGatewayOut; what it holds is known: every
    SMTP key (stored params are complete), the password always null, and the
    extension keys only when set."""
    schemas = doc.spec.components.schemas
    if "OwnGatewayOut" not in schemas:
        return
    given = doc.inline(SmtpParamsSchema)["properties"]
    properties = {key: {k: v for k, v in prop.items() if k != "default"}
                  for key, prop in given.items()}
    properties[PASSWORD] = {"type": "null", "description": "Never returned."}
    required = [key for key in properties if key not in EXTENSION_KEYS]
    doc.spec.components.schema("SmtpParamsOut", closed(properties, required))
    schemas["OwnGatewayOut"]["properties"]["params"] = ref("SmtpParamsOut")


def encode_example(schema: type[Schema], params: dict[str, Any],
                   media_type: str) -> dict[str, Any]:
    """Example params in one body encoding: structured ones JSON-encoded in a form."""
    if media_type == JSON:
        return params
    structured = {field.data_key or name for name, field in schema().fields.items()
                  if isinstance(field, JsonObject)}
    return {key: orjson.dumps(value).decode() if key in structured else value
            for key, value in params.items()}
