"""marshmallow errors as Navixy's code 7 with one `errors[]` entry per parameter.

Nested messages become dotted paths (`gateway.params.mail.smtp.port`), the
form Navixy's admin panel shows next to the offending field.
"""

from __future__ import annotations

from typing import Any

import orjson
from marshmallow import Schema, ValidationError, fields

from navixy_panel.errors import ApiError, ParamError


def flatten(messages: Any, prefix: str = "") -> list[ParamError]:
    if isinstance(messages, dict):
        found: list[ParamError] = []
        for key, value in messages.items():
            name = str(key) if key != "_schema" else ""
            path = ".".join(part for part in (prefix, name) if part)
            found.extend(flatten(value, path))
        return found
    if isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        return [ParamError(prefix or "params", " ".join(messages))]
    if isinstance(messages, list):
        return [e for m in messages for e in flatten(m, prefix)]
    return [ParamError(prefix or "params", str(messages))]


def to_api_error(exc: ValidationError) -> ApiError:
    return ApiError(7, errors=sorted(flatten(exc.messages), key=lambda e: e.parameter))


class JsonObject(fields.Field):
    """A structured parameter: a JSON object in a JSON body, a JSON-encoded
    string in a form or query (how Navixy's admin panel sends `gateway`)."""

    default_error_messages = {"invalid": "Must be a JSON object."}

    def __init__(self, schema: type[Schema], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema_class = schema

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise self.make_error("invalid") from None
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        return self.schema_class().load(value)
