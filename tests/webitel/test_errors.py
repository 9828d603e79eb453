"""The Webitel face's error shape: malformed bodies, each bad field named, unknown
paths and methods, and failures no handler caught."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aiohttp import web

from navixy_panel.webitel import email_settings
from tests.support.api import PASSWORD, Api, stored
from tests.support.webitel import (
    SEED_CREATE,
    Webitel,
    dealer_session,
)


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("raw,info", [
    (b"{not json", "Wrong request format: the body is not valid JSON"),
    (b"[1, 2]", "Wrong request format: the JSON body must be an object"),
])
async def test_malformed_json_body(api: Api, webitel: Webitel, method: str, raw: bytes,
                                   info: str) -> None:
    _, auth = await dealer_session(api)
    assert await webitel.call(method, auth=auth, data=raw,
                              headers={"Content-Type": "application/json"}) == (
        400, {"status": "error", "info": info})


def _with(path: str, value: Any) -> dict[str, Any]:
    """SEED_CREATE with one dotted field replaced (or removed when value is ...)."""
    body = copy.deepcopy(SEED_CREATE)
    *parents, last = path.split(".")
    node = body
    for name in parents:
        node = node[name]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return body


@pytest.mark.parametrize("path,value,info", [
    ("options.port", 0,
     "options.port: Must be greater than or equal to 1 and less than or equal to 65535."),
    ("options.port", 65536,
     "options.port: Must be greater than or equal to 1 and less than or equal to 65535."),
    ("options.host", ..., "options.host: Missing data for required field."),
    ("provider", "ses", "provider: Must be one of: smtp."),
    ("provider", ..., "provider: Missing data for required field."),
    ("options", ..., "options: Missing data for required field."),
])
async def test_validation_names_the_field(api: Api, webitel: Webitel, path: str, value: Any,
                                          info: str) -> None:
    _, auth = await dealer_session(api)
    assert await webitel.call("POST", auth=auth, json=_with(path, value)) == (
        400, {"status": "error", "info": info})
    assert await stored(api) == []


@pytest.mark.parametrize("path,value,field", [
    ("options.port", "abc", "options.port"),
    ("options.port", 1.5, "options.port"),
    ("options.port", None, "options.port"),
    ("options.host", "not a host!", "options.host"),
    ("options.host", "", "options.host"),
    ("options.host", 42, "options.host"),
    ("options", "x", "options"),
    ("options", None, "options"),
    ("options.secure", "maybe", "options.secure"),
    ("options.tls", 5, "options.tls"),
    ("options.auth", "x", "options.auth"),
    ("options.auth.user", ..., "options.auth.user"),
    ("options.auth.pass", 12345, "options.auth.pass"),
    ("from", "not-an-address", "from"),
    ("description", "x" * 101, "description"),
    ("provider", None, "provider"),
])
async def test_bad_fields_are_400_naming_them(api: Api, webitel: Webitel, path: str,
                                              value: Any, field: str) -> None:
    _, auth = await dealer_session(api)
    status, body = await webitel.call("POST", auth=auth, json=_with(path, value))
    assert (status, body["status"]) == (400, "error"), body
    assert body["info"].startswith(f"{field}: "), body
    assert set(body) == {"status", "info"}
    assert await stored(api) == []
    # The same against stored settings, by replace (POST) and by PUT.
    assert (await webitel.call("POST", auth=auth, json=SEED_CREATE))[0] == 200
    before = await stored(api)
    for method in ("POST", "PUT"):
        status, body = await webitel.call(method, auth=auth, json=_with(path, value))
        assert (status, body["status"]) == (400, "error"), body
        assert body["info"].startswith(f"{field}: "), body
        assert set(body) == {"status", "info"}
    assert await stored(api) == before


async def test_body_that_is_not_a_document(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api)
    for data in (b"", b"provider=smtp"):
        status, body = await webitel.call("POST", auth=auth, data=data)
        assert (status, body["status"]) == (400, "error"), body


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
async def test_unknown_path(api: Api, webitel: Webitel, method: str) -> None:
    _, auth = await dealer_session(api)
    assert await webitel.call(method, "/api/v2/nothing", auth=auth) == (
        404, {"status": "error", "info": "/api/v2/nothing not found."})
    assert await webitel.call(method, "/api/v2/nothing") == (
        404, {"status": "error", "info": "/api/v2/nothing not found."})


async def test_other_method_on_settings_is_not_a_500(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api)
    status, body = await webitel.call("PATCH", auth=auth, json=SEED_CREATE)
    assert status in (404, 405), body
    assert body["status"] == "error"


async def test_unexpected_failures_answer_in_webitel_shape(
        make_client, db, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """The edge middleware renders what the Webitel handlers do not catch, in their shape:
    a Webitel route of the test's own, authenticated like the others, whose work fails."""
    failures = {"unexpected": RuntimeError("SELECT secret"), "database": ConnectionRefusedError()}

    @email_settings.authenticated("GET /api/v2/test/failing")
    async def failing(call: email_settings.Call) -> web.Response:
        raise failures[call.request.query["failure"]]

    api = Api(await make_client(routes=[web.get("/api/v2/test/failing", failing)]), db)
    await api.dealer("d1", domain="d1.example")
    login = await (await api.client.post("/login", json={"username": "d1",
                                                         "password": PASSWORD})).json()
    headers = {"X-Key": login["key"], "X-Access-Token": login["token"]}
    for failure, expected in (("unexpected", (500, "Unexpected error")),
                              ("database", (503, "Database unavailable"))):
        response = await api.client.get("/api/v2/test/failing", params={"failure": failure},
                                        headers=headers)
        assert (response.status, await response.json()) == (
            expected[0], {"status": "error", "info": expected[1]})
    assert "SELECT secret" in caplog.text  # logged for the operator, never answered
