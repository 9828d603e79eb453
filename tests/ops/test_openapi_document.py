"""What /openapi.json tells people: operation ids, servers, and examples that the
service itself accepts."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from navixy_panel import openapi
from navixy_panel.navixy import openapi as navixy_openapi
from navixy_panel.navixy.openapi_examples import EXAMPLES as NAVIXY_EXAMPLES
from navixy_panel.navixy.routes import ACTIONS
from navixy_panel.webitel import auth as webitel_auth
from navixy_panel.webitel import mapping
from navixy_panel.webitel.openapi_examples import EXAMPLES as WEBITEL_EXAMPLES

JSON, FORM = "application/json", "application/x-www-form-urlencoded"


def the_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(openapi.document())
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, item in document["paths"].items()
            for method, operation in item.items()]


# -- the document ---------------------------------------------------------------------------

def test_the_document_is_valid_openapi() -> None:
    validate(the_document())


def test_every_operation_has_a_unique_readable_operation_id() -> None:
    found = [(operation.get("operationId"), path, method)
             for path, method, operation in operations(the_document())]
    missing = [(path, method) for operation_id, path, method in found if not operation_id]
    assert not missing
    ids = [operation_id for operation_id, _, _ in found]
    assert len(ids) == len(set(ids))
    assert all(str(operation_id).isidentifier() for operation_id in ids)
    by_path = {(path, method): operation_id for operation_id, path, method in found}
    assert by_path[("/v2/panel/gateways/email/list", "post")] == "gateways_email_list"
    assert by_path[("/api/v2/email/settings", "get")] == "webitel_get_email_settings"


def test_servers_are_given() -> None:
    assert the_document()["servers"] == [
        {"url": "/", "description": "The server this document came from."}]


def test_every_navixy_action_has_an_example_request_and_answer() -> None:
    document = the_document()
    assert set(NAVIXY_EXAMPLES) == set(ACTIONS)
    for path, action in ACTIONS.items():
        operation = document["paths"][f"/v2/panel/{path}"]["post"]
        success = operation["responses"]["200"]["content"][JSON]
        assert success["example"]["success"] is True, path
        if action.params is not None:
            for media in (JSON, FORM):
                assert "example" in operation["requestBody"]["content"][media], (path, media)


def test_every_operation_has_examples() -> None:
    for path, method, operation in operations(the_document()):
        if path == "/openapi.json":
            continue
        for status, response in operation["responses"].items():
            assert "example" in response["content"][JSON], (path, method, status)
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            assert "example" in content, (path, method, media)
        for parameter in operation.get("parameters", []):
            assert "example" in parameter, (path, method, parameter["name"])


def test_examples_match_the_documented_schemas() -> None:
    document = the_document()

    def check(schema: dict[str, Any], value: Any, where: tuple[Any, ...]) -> None:
        # The components beside the schema, so `#/components/...` resolves.
        wrapped = {**schema, "components": document["components"]}
        validator = Draft202012Validator(wrapped,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [error.message for error in validator.iter_errors(value)]
        assert not errors, (where, errors)

    checked = 0
    for path, method, operation in operations(document):
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            if "example" not in content:
                continue
            check(content["schema"], content["example"], (path, method, media))
            # A JSON-encoded form field holds what its contentSchema says.
            for key, prop in content["schema"].get("properties", {}).items():
                if "contentSchema" in prop and key in content["example"]:
                    check(prop["contentSchema"], json.loads(content["example"][key]),
                          (path, method, media, key))
            checked += 1
        for status, response in operation["responses"].items():
            for content in response.get("content", {}).values():
                if "example" in content:
                    check(content["schema"], content["example"], (path, method, status))
                    checked += 1
        for parameter in operation.get("parameters", []):
            check(parameter["schema"], parameter["example"], (path, method, parameter["name"]))
    assert checked > 100


def as_form(params: dict[str, Any]) -> dict[str, Any]:
    """What a form body carries: strings only."""
    return {key: value if isinstance(value, str) else json.dumps(value)
            for key, value in params.items()}


def test_the_service_accepts_every_example_request() -> None:
    """Through the very schemas the dispatcher and Webitel's handlers load with."""
    for path, action in ACTIONS.items():
        example = NAVIXY_EXAMPLES[path]
        if action.params is None:
            assert example.params is None, path
            continue
        assert example.params is not None, path
        for media in (JSON, FORM):
            body = navixy_openapi.encode_example(action.params, example.params, media)
            action.params().load(body if media == JSON else as_form(body))
    examples = WEBITEL_EXAMPLES
    webitel_auth.LoginParams().load(examples["login"])
    for name in ("settings", "replacement"):
        loaded = mapping.SettingsSchema().load(examples[name])
        mapping.to_gateway(loaded, None)
