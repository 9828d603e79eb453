"""No 5xx for client input on either face: hostile input gets the face's own refusal.

JSON nested close to the parser's own limit (orjson takes 1,024 levels; Python's
recursion limit is 1,000), on both faces, in a JSON body and inside the JSON
string the admin panel sends `gateway` as; and U+0000 inside that string, which
PostgreSQL text and JSONB cannot hold. Each is a 4xx with the face's JSON error
body, and nothing is stored.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import FormData

from navixy_panel.webitel.errors import invalid_fields
from tests.support.api import PASSWORD, Api, relay_gateway
from tests.support.webitel import webitel_headers

DEPTHS = [990, 999, 1000, 1001, 1023, 1024, 1025, 5000]
SETTINGS = "/api/v2/email/settings"


def nested(depth: int, kind: str = "list") -> Any:
    """A value `depth` levels deep (a list of lists …, or {"a": {"a": …}})."""
    value: Any = 0
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def raw_nested(depth: int, kind: str) -> str:
    """The same as JSON text, built without recursion (json.dumps would recurse)."""
    if kind == "list":
        return "[" * depth + "0" + "]" * depth
    return '{"a":' * depth + "0" + "}" * depth


async def navixy_refusal(api: Api, action: str, *, codes: tuple[int, ...] = (5, 7),
                         **kwargs: Any) -> dict[str, Any]:
    status, body = await api.call(action, **kwargs)
    assert body["success"] is False, body
    code = body["status"]["code"]
    assert code in codes and status == 400, (status, body)
    assert set(body["status"]) == {"code", "description"}
    return body


async def webitel_refusal(api: Api, method: str, path: str, *, headers: dict[str, str],
                          **kwargs: Any) -> dict[str, Any]:
    response = await api.client.request(method, path, headers=headers, **kwargs)
    assert response.content_type == "application/json", await response.text()
    body = await response.json()
    assert response.status == 400, (response.status, body)
    assert body["status"] == "error" and isinstance(body["info"], str), body
    return body


DEEP = "@deep@"


def holding(document: Any, deep: str) -> str:
    """`document` as JSON text with the JSON text `deep` where it says DEEP."""
    return json.dumps(document, separators=(",", ":")).replace(f'"{DEEP}"', deep)


def deep_text(depth: int, kind: str, where: str) -> str:
    """A JSON object whose member `where` holds the deep value, as text."""
    return holding({where: DEEP}, raw_nested(depth - 1, kind))


# -- Navixy: a JSON body ------------------------------------------------------

@pytest.mark.parametrize("kind", ["list", "object"])
@pytest.mark.parametrize("depth", DEPTHS)
async def test_navixy_deep_json_body(api: Api, depth: int, kind: str) -> None:
    await api.dealer("d1", domain="d1.example")
    h = await api.login("d1")
    before = await api.snapshot()
    headers = {"Content-Type": "application/json", "Authorization": f"NVX {h}"}
    for action in ("gateways/email/create", "gateways/email/bind", "gateways/email/list",
                   "account/auth", "no/such/action"):
        codes = (111,) if action == "no/such/action" else (5, 7)
        text = deep_text(depth, kind, "gateway")
        await navixy_refusal(api, action, codes=codes, headers=headers, json=None,
                             query=None, form=text)
    # The whole body is the deep value (not an object): code 5 too.
    await navixy_refusal(api, "gateways/email/create", headers=headers, form=raw_nested(
        depth, kind))
    assert await api.snapshot() == before
    counted = await api.sql("SELECT coalesce(sum(hits), 0) AS n FROM rate_counters")
    assert counted[0].n == 0  # bad input does not count as a failed login


# -- Navixy: inside the JSON string of a form field -----------------------------

@pytest.mark.parametrize("kind", ["list", "object"])
@pytest.mark.parametrize("depth", [990, 1000, 1024, 1025])
async def test_navixy_deep_json_inside_the_gateway_string(api: Api, depth: int,
                                                          kind: str) -> None:
    await api.dealer("d1")
    h = await api.login("d1")
    before = await api.snapshot()
    deep = raw_nested(depth - 2, kind)  # two levels of object around it
    texts = [raw_nested(depth, kind),  # the whole value
             holding(relay_gateway(**{"mail.smtp.host": DEEP}), deep),
             holding(relay_gateway() | {"id": DEEP}, deep)]
    for text in texts:
        for action in ("gateways/email/create", "gateways/email/update"):
            await navixy_refusal(api, action, hash=h, form={"gateway": text})
            if kind == "list":  # within aiohttp's request line limit once URL-encoded
                await navixy_refusal(api, action, hash=h, query={"gateway": text})
    assert await api.snapshot() == before


NUL_GATEWAYS = [
    (relay_gateway() | {"label": "re\u0000lay"}, "gateway.label"),
    (relay_gateway() | {"provider": "smtp\u0000"}, "gateway.provider"),
    (relay_gateway(**{"mail.smtp.host": "smtp.example.com\u0000"}),
     "gateway.params.mail.smtp.host"),
    (relay_gateway(**{"mail.smtp.auth": True, "mail.smtp.user": "us\u0000er",
                      "mail.smtp.password": "secret"}), "gateway.params.mail.smtp.user"),
    (relay_gateway(**{"mail.smtp.auth": True, "mail.smtp.user": "user",
                      "mail.smtp.password": "sec\u0000ret"}),
     "gateway.params.mail.smtp.password"),
    (relay_gateway(**{"default_from_address": "a\u0000@d1.example"}),
     "gateway.params.default_from_address"),
    (relay_gateway(**{"mail.smtp.host\u0000": "x"}), "gateway.params"),
    (relay_gateway() | {"label\u0000": "x"}, "gateway"),
]


@pytest.mark.parametrize(("value", "parameter"), NUL_GATEWAYS)
@pytest.mark.parametrize("transport", ["urlencoded", "multipart", "query"])
async def test_navixy_nul_inside_the_gateway_string_is_code_7(
        api: Api, value: dict[str, Any], parameter: str, transport: str) -> None:
    """The admin panel's own format: `gateway` as a JSON string in a form body."""
    await api.dealer("d1")
    h = await api.login("d1")
    gateway_id = await api.gateway(await api.dealer("d2"), "theirs")  # something to keep
    before = await api.snapshot()
    text = json.dumps(value)  # the NUL travels as the JSON escape \u0000
    assert "\\u0000" in text
    for action, sent in (("gateways/email/create", text),
                         ("gateways/email/update", json.dumps(value | {"id": gateway_id}))):
        if transport == "query":
            body = await navixy_refusal(api, action, codes=(7,), hash=h,
                                        query={"gateway": sent})
        elif transport == "multipart":
            form = FormData()
            form.add_field("gateway", sent)
            form.add_field("hash", h)
            body = await navixy_refusal(api, action, codes=(7,), form=form)
        else:
            body = await navixy_refusal(api, action, codes=(7,), hash=h,
                                        form={"gateway": sent})
        assert [e["parameter"] for e in body["errors"]] == [parameter], body
    assert await api.snapshot() == before


async def test_navixy_raw_nul_in_form_fields_is_code_7(api: Api) -> None:
    await api.dealer("d1")
    h = await api.login("d1")
    before = await api.snapshot()
    body = await navixy_refusal(api, "dealer/settings/notification/email/update", codes=(7,),
                                hash=h, form={"email_from": "a\x00@d1.example"})
    assert [e["parameter"] for e in body["errors"]] == ["email_from"]
    body = await navixy_refusal(api, "account/auth", codes=(7,),
                                form={"login": "d\x001", "password": PASSWORD})
    assert [e["parameter"] for e in body["errors"]] == ["login"]
    assert await api.snapshot() == before


# -- Webitel --------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["list", "object"])
@pytest.mark.parametrize("depth", DEPTHS)
async def test_webitel_deep_json_body(api: Api, depth: int, kind: str) -> None:
    await api.dealer("d1", domain="d1.example")
    headers = {**await webitel_headers(api.client, "d1"), "Content-Type": "application/json"}
    before = await api.snapshot()
    options = {"host": "smtp.example.com", "port": 25, "deep": DEEP}
    documents = [deep_text(depth, kind, "options"),
                 holding({"provider": "smtp", "options": options}, raw_nested(depth - 2, kind)),
                 raw_nested(depth, kind)]
    for document in documents:
        for method in ("POST", "PUT"):
            await webitel_refusal(api, method, SETTINGS, headers=headers, data=document)
        await webitel_refusal(api, "POST", "/login", headers=headers, data=document)
    assert await api.snapshot() == before


@pytest.mark.parametrize(("field", "document"), [
    ("options.host", {"provider": "smtp", "options": {"host": "smtp.example.com\u0000",
                                                      "port": 25}}),
    ("description", {"provider": "smtp", "description": "a\u0000b",
                     "options": {"host": "smtp.example.com", "port": 25}}),
    ("options.auth.user", {"provider": "smtp", "options": {
        "host": "smtp.example.com", "port": 25, "auth": {"user": "u\u0000", "pass": "p"}}}),
])
async def test_webitel_nul_in_the_document_is_400_naming_it(api: Api, field: str,
                                                            document: dict[str, Any]) -> None:
    await api.dealer("d1", domain="d1.example")
    headers = await webitel_headers(api.client, "d1")
    before = await api.snapshot()
    for method in ("POST", "PUT"):
        body = await webitel_refusal(api, method, SETTINGS, headers=headers, json=document)
        assert body["info"].startswith(field + ": "), body
    assert await api.snapshot() == before


async def test_sixty_thousand_unknown_params_keys_list_twenty(api: Api) -> None:
    """A refusal names 20 parameters at most and counts the rest (it was a 3.8 MB
    answer)."""
    await api.dealer("d1")
    h = await api.login("d1")
    keys = {f"k{i:05d}": 1 for i in range(60000)}
    response = await api.client.post("/v2/panel/gateways/email/create",
                                     headers={"Authorization": f"NVX {h}"},
                                     json={"gateway": relay_gateway(**keys)})
    text = await response.text()
    assert response.status == 400
    assert len(text) < 4000, len(text)
    assert json.loads(text) == {
        "success": False, "status": {"code": 7, "description": "Invalid parameters"},
        "errors": [*({"parameter": f"gateway.params.k{i:05d}", "error": "Unknown field."}
                     for i in range(20)),
                   {"parameter": "params", "error": "59980 more invalid parameters not listed."}]}
    assert await api.sql("SELECT id FROM email_gateways") == []


def test_webitel_refusal_names_twenty_fields_at_most() -> None:
    refusal = invalid_fields([(f"options.k{i:05d}", "Unknown field.") for i in range(60000)])
    assert refusal.info == "; ".join(
        [*(f"options.k{i:05d}: Unknown field." for i in range(20)),
         "59980 more invalid fields not listed."])
