"""marshmallow fields particular to how Navixy clients send parameters."""

from __future__ import annotations

from typing import Any

import orjson
from marshmallow import Schema, fields

from navixy_panel.http.plumbing import check_values


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
            # What the body check could not see inside the string: NUL, deep nesting.
            check_values(value, self.name or "")
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        return self.schema_class().load(value)
