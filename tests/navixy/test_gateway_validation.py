"""Every parameter refusal of the gateway and sender-identity actions.

Unknown keys, wrong types and out-of-range values are refused
with code 7 naming each parameter, and a structured `gateway` that is
not a JSON object is code 7 naming it. Each test here sends one bad request over
HTTP, asserts the whole answer (HTTP 400, code 7, the exact `errors` list) and
that the database is exactly as it was before: a refusal never half-applies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet

from navixy_panel.security.secret_box import SecretBox
from tests.support.api import Api

Errors = list[tuple[str, str]]

MISSING = "Missing data for required field."
NOT_OBJECT = "Must be a JSON object."
NOT_INTEGER = "Not a valid integer."
NOT_BOOLEAN = "Not a valid boolean."
NOT_EMAIL = "Not a valid email address."
NOT_HOST = "Must be a hostname or an IP address."
LABEL_LENGTH = "Length must be between 1 and 100."
PORT_RANGE = "Must be greater than or equal to 1 and less than or equal to 65535."
TIMEOUT_RANGE = "Must be greater than or equal to 1 and less than or equal to 600000."
UNKNOWN = "Unknown field."
PARAMS = "gateway.params."


class Ctx:
    """A dealer with a password-protected, bound gateway and a sender identity."""

    def __init__(self, api: Api, hash: str, gateway_id: int) -> None:
        self.api = api
        self.hash = hash
        self.gateway_id = gateway_id


@pytest.fixture
async def ctx(api: Api) -> Ctx:
    dealer = await api.dealer("d1")
    box = SecretBox([Fernet.generate_key().decode()])
    gateway = await api.gateway(dealer, "Stored relay", box=box,
                                **{"mail.smtp.auth": True, "mail.smtp.user": "stored-user",
                                   "mail.smtp.password": "stored-secret"})
    await api.bind(dealer, gateway)
    await api.sql("UPDATE dealers SET email_from = 'from@d1.example', "
                  "email_footer = 'stored footer' WHERE id = :id", id=dealer)
    return Ctx(api, await api.login("d1"), gateway)


async def assert_refused(ctx: Ctx, action: str, errors: Errors, **kwargs: Any) -> None:
    """Code 7 with exactly these errors, and nothing changed in the database."""
    before = await ctx.api.snapshot()
    status, body = await ctx.api.call(action, hash=ctx.hash, **kwargs)
    assert (status, body) == (400, {
        "success": False,
        "status": {"code": 7, "description": "Invalid parameters"},
        "errors": [{"parameter": parameter, "error": error} for parameter, error in errors],
    })
    assert await ctx.api.snapshot() == before


def valid_gateway(**params: Any) -> dict[str, Any]:
    return {"label": "New relay", "provider": "smtp", "leasable": False,
            "params": {"mail.smtp.host": "smtp.example.org", **params}}


def without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda gateway: gateway.pop(key)


def setting(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda gateway: gateway.__setitem__(key, value)


def param(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda gateway: gateway["params"].__setitem__(key, value)


def without_param(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda gateway: gateway["params"].pop(key)


def several(gateway: dict[str, Any]) -> None:
    gateway["label"] = ""
    gateway["params"].update({"mail.smtp.port": 0, "mail.transport.protocol": "imap",
                              "default_from_address": "nope", "mail.debug": "maybe"})


# Bad gateway objects, refused the same way by create and update.
BAD_GATEWAYS: dict[str, tuple[Callable[[dict[str, Any]], None], Errors]] = {
    "label_missing": (without("label"), [("gateway.label", MISSING)]),
    "label_empty": (setting("label", ""), [("gateway.label", LABEL_LENGTH)]),
    "label_101_chars": (setting("label", "L" * 101), [("gateway.label", LABEL_LENGTH)]),
    "provider_missing": (without("provider"), [("gateway.provider", MISSING)]),
    "provider_bad_characters": (setting("provider", "SMTP relay!"),
                                [("gateway.provider", "Must be a provider name.")]),
    "leasable_not_boolean": (setting("leasable", "maybe"), [("gateway.leasable", NOT_BOOLEAN)]),
    "unknown_gateway_key": (setting("colour", "red"), [("gateway.colour", UNKNOWN)]),
    "params_missing": (without("params"), [("gateway.params", MISSING)]),
    "params_not_object": (setting("params", "mail.smtp.host=x"),
                          [("gateway.params", "Invalid input type.")]),
    "params_unknown_key": (param("mail.smtp.sendpartial", True),
                           [(PARAMS + "mail.smtp.sendpartial", UNKNOWN)]),
    "host_missing": (without_param("mail.smtp.host"), [(PARAMS + "mail.smtp.host", MISSING)]),
    "host_empty": (param("mail.smtp.host", ""), [(PARAMS + "mail.smtp.host", NOT_HOST)]),
    "host_not_a_host": (param("mail.smtp.host", "not a host!"),
                        [(PARAMS + "mail.smtp.host", NOT_HOST)]),
    "port_0": (param("mail.smtp.port", 0), [(PARAMS + "mail.smtp.port", PORT_RANGE)]),
    "port_65536": (param("mail.smtp.port", 65536), [(PARAMS + "mail.smtp.port", PORT_RANGE)]),
    "port_abc": (param("mail.smtp.port", "abc"), [(PARAMS + "mail.smtp.port", NOT_INTEGER)]),
    "port_fraction": (param("mail.smtp.port", 1.5), [(PARAMS + "mail.smtp.port", NOT_INTEGER)]),
    "ssl_port_0": (param("mail.smtp.ssl.port", 0), [(PARAMS + "mail.smtp.ssl.port", PORT_RANGE)]),
    "ssl_port_65536": (param("mail.smtp.ssl.port", 65536),
                       [(PARAMS + "mail.smtp.ssl.port", PORT_RANGE)]),
    "timeout_0": (param("mail.smtp.timeout", 0), [(PARAMS + "mail.smtp.timeout", TIMEOUT_RANGE)]),
    "connectiontimeout_600001": (param("mail.smtp.connectiontimeout", 600001),
                                 [(PARAMS + "mail.smtp.connectiontimeout", TIMEOUT_RANGE)]),
    "boolean_maybe": (param("mail.smtp.starttls.enable", "maybe"),
                      [(PARAMS + "mail.smtp.starttls.enable", NOT_BOOLEAN)]),
    "default_from_address_not_email": (param("default_from_address", "not-an-email"),
                                       [(PARAMS + "default_from_address", NOT_EMAIL)]),
    "protocol_imap": (param("mail.transport.protocol", "imap"),
                      [(PARAMS + "mail.transport.protocol", "Must be one of: smtp.")]),
    "several_at_once_sorted": (several, [
        ("gateway.label", LABEL_LENGTH),
        (PARAMS + "default_from_address", NOT_EMAIL),
        (PARAMS + "mail.debug", NOT_BOOLEAN),
        (PARAMS + "mail.smtp.port", PORT_RANGE),
        (PARAMS + "mail.transport.protocol", "Must be one of: smtp."),
    ]),
}


@pytest.mark.parametrize("case", list(BAD_GATEWAYS))
async def test_create_refuses_bad_gateway(ctx: Ctx, case: str) -> None:
    change, errors = BAD_GATEWAYS[case]
    gateway = valid_gateway()
    change(gateway)
    await assert_refused(ctx, "gateways/email/create", errors, json={"gateway": gateway})


@pytest.mark.parametrize("case", list(BAD_GATEWAYS))
async def test_update_refuses_bad_gateway(ctx: Ctx, case: str) -> None:
    change, errors = BAD_GATEWAYS[case]
    gateway = {"id": ctx.gateway_id, **valid_gateway()}
    change(gateway)
    await assert_refused(ctx, "gateways/email/update", errors, json={"gateway": gateway})


@pytest.mark.parametrize("case", list(BAD_GATEWAYS))
async def test_create_refuses_bad_gateway_sent_as_form_string(ctx: Ctx, case: str) -> None:
    change, errors = BAD_GATEWAYS[case]
    gateway = valid_gateway()
    change(gateway)
    await assert_refused(ctx, "gateways/email/create", errors,
                         form={"gateway": json.dumps(gateway)})


# -- `gateway` absent or not a JSON object ------------------------------------

NOT_OBJECT_FORM_VALUES = {"list": "[1, 2]", "number": "5", "string": '"relay"',
                          "malformed": '{"label": "x",'}
NOT_OBJECT_JSON_VALUES: dict[str, Any] = {
    "list": [1, 2], "number": 5, "boolean": True, "plain_string": "relay",
    "list_as_string": "[1, 2]", "malformed_string": '{"label": "x",'}


@pytest.mark.parametrize("action", ["create", "update"])
async def test_gateway_missing(ctx: Ctx, action: str) -> None:
    await assert_refused(ctx, f"gateways/email/{action}", [("gateway", MISSING)],
                         form={"unrelated": "1"})


@pytest.mark.parametrize("action", ["create", "update"])
async def test_gateway_null_in_json_counts_as_missing(ctx: Ctx, action: str) -> None:
    await assert_refused(ctx, f"gateways/email/{action}", [("gateway", MISSING)],
                         json={"gateway": None})


@pytest.mark.parametrize("action", ["create", "update"])
@pytest.mark.parametrize("kind", list(NOT_OBJECT_FORM_VALUES))
async def test_gateway_form_field_not_a_json_object(ctx: Ctx, action: str, kind: str) -> None:
    await assert_refused(ctx, f"gateways/email/{action}", [("gateway", NOT_OBJECT)],
                         form={"gateway": NOT_OBJECT_FORM_VALUES[kind]})


@pytest.mark.parametrize("action", ["create", "update"])
@pytest.mark.parametrize("kind", list(NOT_OBJECT_JSON_VALUES))
async def test_gateway_json_value_not_a_json_object(ctx: Ctx, action: str, kind: str) -> None:
    await assert_refused(ctx, f"gateways/email/{action}", [("gateway", NOT_OBJECT)],
                         json={"gateway": NOT_OBJECT_JSON_VALUES[kind]})


# -- create and update specifics ----------------------------------------------

async def test_create_refuses_provider_other_than_smtp(ctx: Ctx) -> None:
    gateway = {**valid_gateway(), "provider": "mandrill_smtp"}
    await assert_refused(ctx, "gateways/email/create", [
        ("gateway.provider", "Only 'smtp' gateways can be created through the API.")],
        json={"gateway": gateway})


async def test_update_refuses_switching_to_another_provider(ctx: Ctx) -> None:
    gateway = {"id": ctx.gateway_id, **valid_gateway(), "provider": "mandrill_smtp"}
    await assert_refused(ctx, "gateways/email/update", [
        ("gateway.provider", "Must be 'smtp' or the gateway's current provider.")],
        json={"gateway": gateway})


async def test_update_without_id(ctx: Ctx) -> None:
    await assert_refused(ctx, "gateways/email/update", [("gateway.id", MISSING)],
                         json={"gateway": valid_gateway()})


@pytest.mark.parametrize("bad_id", ["abc", 1.5, True])
async def test_update_with_id_not_an_integer(ctx: Ctx, bad_id: Any) -> None:
    await assert_refused(ctx, "gateways/email/update", [("gateway.id", NOT_INTEGER)],
                         json={"gateway": {"id": bad_id, **valid_gateway()}})


async def test_create_ignores_an_id_inside_the_gateway(ctx: Ctx) -> None:
    before_gateways, _ = await ctx.api.snapshot()
    body = await ctx.api.ok("gateways/email/create", hash=ctx.hash,
                            json={"gateway": {"id": ctx.gateway_id, **valid_gateway()}})
    new_id = body["id"]
    assert body == {"success": True, "id": new_id}
    assert new_id != ctx.gateway_id
    after_gateways, _ = await ctx.api.snapshot()
    assert after_gateways[0] == before_gateways[0]  # the named gateway is untouched
    assert [row.id for row in after_gateways] == [ctx.gateway_id, new_id]
    assert after_gateways[1].label == "New relay"


# -- bind, delete, send_email -------------------------------------------------

@pytest.mark.parametrize("action", ["bind", "delete"])
async def test_gateway_id_missing(ctx: Ctx, action: str) -> None:
    await assert_refused(ctx, f"gateways/email/{action}", [("gateway_id", MISSING)],
                         form={"unrelated": "1"})


@pytest.mark.parametrize("action", ["bind", "delete"])
@pytest.mark.parametrize("bad_id", ["x", "1.5"])
async def test_gateway_id_not_an_integer_in_form(ctx: Ctx, action: str, bad_id: str) -> None:
    await assert_refused(ctx, f"gateways/email/{action}", [("gateway_id", NOT_INTEGER)],
                         form={"gateway_id": bad_id})


@pytest.mark.parametrize("action", ["bind", "delete"])
@pytest.mark.parametrize("bad_id", ["x", 1.5, True, [1]])
async def test_gateway_id_not_an_integer_in_json(ctx: Ctx, action: str, bad_id: Any) -> None:
    await assert_refused(ctx, f"gateways/email/{action}", [("gateway_id", NOT_INTEGER)],
                         json={"gateway_id": bad_id})


async def test_send_email_without_to(ctx: Ctx) -> None:
    await assert_refused(ctx, "gateways/email/send_email", [("to", MISSING)],
                         form={"gateway_id": str(ctx.gateway_id)})


async def test_send_email_to_not_an_address(ctx: Ctx) -> None:
    await assert_refused(ctx, "gateways/email/send_email", [("to", NOT_EMAIL)],
                         form={"to": "not-an-address"})


async def test_send_email_gateway_id_not_an_integer(ctx: Ctx) -> None:
    await assert_refused(ctx, "gateways/email/send_email", [("gateway_id", NOT_INTEGER)],
                         form={"to": "ops@example.org", "gateway_id": "x"})


async def test_send_email_reports_every_bad_parameter(ctx: Ctx) -> None:
    await assert_refused(ctx, "gateways/email/send_email",
                         [("gateway_id", NOT_INTEGER), ("to", NOT_EMAIL)],
                         form={"to": "nope", "gateway_id": "x"})


# -- dealer/settings/notification/email/update --------------------------------

NOTIFICATION = "dealer/settings/notification/email/update"
EMAIL_101_CHARS = "x" * 58 + "@" + "y" * 30 + ".example.com"


async def test_notification_without_email_from(ctx: Ctx) -> None:
    await assert_refused(ctx, NOTIFICATION, [("email_from", MISSING)],
                         form={"email_footer": "new footer"})


async def test_notification_with_bad_email_from(ctx: Ctx) -> None:
    await assert_refused(ctx, NOTIFICATION, [("email_from", NOT_EMAIL)],
                         form={"email_from": "not-an-address"})


async def test_notification_with_email_from_over_100_chars(ctx: Ctx) -> None:
    assert len(EMAIL_101_CHARS) == 101
    await assert_refused(ctx, NOTIFICATION,
                         [("email_from", "Longer than maximum length 100.")],
                         form={"email_from": EMAIL_101_CHARS})


async def test_notification_with_footer_over_600_chars(ctx: Ctx) -> None:
    await assert_refused(ctx, NOTIFICATION,
                         [("email_footer", "Longer than maximum length 600.")],
                         form={"email_from": "new@d1.example", "email_footer": "f" * 601})


async def test_notification_accepts_the_limits(ctx: Ctx) -> None:
    """The boundaries themselves are allowed (so the refusals above are about length)."""
    email_100 = EMAIL_101_CHARS[1:]
    await ctx.api.ok(NOTIFICATION, hash=ctx.hash,
                     form={"email_from": email_100, "email_footer": "f" * 600})
    assert await ctx.api.ok("dealer/settings/notification/email/read", hash=ctx.hash) == {
        "success": True, "email_from": email_100, "email_footer": "f" * 600}
