"""What each part of the OpenAPI document is written with: the builder every owner of
paths adds to (`navixy/openapi.py`, `webitel/openapi.py`, `http/probes.py`), the small
JSON Schema shapes they share, and example values both faces' examples use, so the
document's examples tell one story (one dealer, one domain, one recipient).

Hosts in examples are under `.example` (RFC 2606): an example sent to a live server
mails nobody.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import Schema

JSON, FORM = "application/json", "application/x-www-form-urlencoded"

EXAMPLE_DOMAIN, EXAMPLE_RECIPIENT = "dealer.example", "ops@dealer.example"
EXAMPLE_SENDER = "alerts@dealer.example"
EXAMPLE_PERMISSIONS = {"email_gateways": ["create", "delete", "read", "send_email", "update"],
                       "notification_settings": ["read", "update"]}


def component_name(schema: type[Schema] | Schema) -> str:
    """A marshmallow schema's component name: its class name without `Schema`. A part
    whose schemas need other names registers them first (`Builder.name_schemas`)."""
    cls = resolve_schema_cls(schema)
    assert not isinstance(cls, list)  # our schemas are single classes
    return cls.__name__.removesuffix("Schema")


class Builder:
    """One document under construction: apispec's spec and its marshmallow converter."""

    def __init__(self, spec: APISpec, plugin: MarshmallowPlugin) -> None:
        self.spec, self.plugin = spec, plugin

    def inline(self, schema: type[Schema]) -> dict[str, Any]:
        """The JSON Schema of a marshmallow schema, inline (nested ones become components)."""
        converter = self.plugin.converter
        assert converter is not None  # set once the plugin is registered with the spec
        result: dict[str, Any] = converter.schema2jsonschema(schema())
        return result

    def nested(self, schema: type[Schema]) -> dict[str, Any]:
        """A reference to a marshmallow schema's component (registered on first use)."""
        converter = self.plugin.converter
        assert converter is not None
        result: dict[str, Any] = converter.resolve_nested_schema(schema)
        return result

    def name_schemas(self, names: dict[str, type[Schema]]) -> None:
        """Registers schemas under the given component names, nested ones first, so that
        references to them (nested in others too) use these names."""
        for name, schema in names.items():
            self.spec.components.schema(name, schema=schema)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def media(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    """A media type object: the schema, and the example when there is one."""
    return {"schema": schema} if example is None else {"schema": schema, "example": example}


def closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An object with exactly these properties (all required unless told otherwise)."""
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": False}


STRING, NULL_STRING = {"type": "string"}, {"type": ["string", "null"]}
PERMISSIONS = {"type": "object",
               "additionalProperties": {"type": "array", "items": {"type": "string"}}}
