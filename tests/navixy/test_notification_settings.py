"""Navixy's notification settings: `dealer/settings/notification/read` and `update`
(documented), beside the `…/notification/email/*` pair Navixy's admin panel uses, all
over HTTP against one stored sender identity.

`update` is a full replacement with four required fields (a missing
one is code 7 naming it), an absent `email_special` is cleared; the limits are the
lengths and the originators' characters (Navixy's OpenAPI pattern
`(\\p{L}|\\d|[-'" .,:/])*`). Navixy's admin panel posts the form as the panel's Ext
JS builds it, a null field as `name=`: that is a field sent empty, so cleared.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from tests.support.api import Api

READ, UPDATE = "dealer/settings/notification/read", "dealer/settings/notification/update"
EMAIL_READ, EMAIL_UPDATE = ("dealer/settings/notification/email/read",
                            "dealer/settings/notification/email/update")
FIELDS = ("email_from", "email_footer", "email_special", "sms_originator", "caller_id")
UNSET = dict.fromkeys(FIELDS)
MISSING = "Missing data for required field."
NOT_EMAIL = "Not a valid email address."
ORIGINATOR_CHARS = "Must contain only letters, digits and -'\" .,:/"

SETTINGS = {"email_from": "Navixy <no-reply@navixy.com>", "email_footer": "\n\nSincerely, Navixy",
            "email_special": "reports@navixy.com", "sms_originator": "demo.navixy.com",
            "caller_id": "491761234543"}


async def identities(api: Api) -> list[Any]:
    """Every dealer's identity straight from the database."""
    return await api.sql(f"SELECT id, {', '.join(FIELDS)} FROM dealers ORDER BY id")


@pytest.fixture
async def h(api: Api) -> str:
    await api.dealer("d1")
    return await api.login("d1")


async def test_read_gives_every_field_null_when_unset(api: Api, h: str) -> None:
    assert await api.ok(READ, hash=h) == {"success": True, "value": UNSET}


async def test_update_then_read_through_both_pairs(api: Api, h: str) -> None:
    assert await api.ok(UPDATE, hash=h, json=SETTINGS) == {"success": True}
    assert await api.ok(READ, hash=h) == {"success": True, "value": SETTINGS}
    assert await api.ok(EMAIL_READ, hash=h) == {
        "success": True, "email_from": SETTINGS["email_from"],
        "email_footer": SETTINGS["email_footer"]}

    # The panel's pair changes the email fields only; the rest is kept.
    await api.ok(EMAIL_UPDATE, hash=h, form={"email_from": "Fleet <fleet@d1.example>"})
    assert (await api.ok(READ, hash=h))["value"] == {
        **SETTINGS, "email_from": "Fleet <fleet@d1.example>", "email_footer": None}


async def test_the_panels_form_post_with_unset_fields(api: Api, h: str) -> None:
    """What the panel's Settings page sends (Settings.getNotificationFormatted): the four
    fields as form fields, null ones as `name=`, never email_special."""
    await api.ok(UPDATE, hash=h, json=SETTINGS)
    await api.ok(UPDATE, hash=h, form={"email_from": "alerts@d1.example", "email_footer": "",
                                       "sms_originator": "", "caller_id": ""})
    assert (await api.ok(READ, hash=h))["value"] == {**UNSET, "email_from": "alerts@d1.example"}
    # JSON nulls and empty strings mean the same.
    await api.ok(UPDATE, hash=h, json={**SETTINGS, "email_footer": "", "caller_id": None})
    assert (await api.ok(READ, hash=h))["value"] == {**SETTINGS, "email_footer": None,
                                                    "caller_id": None}


async def test_an_omitted_email_special_is_cleared(api: Api, h: str) -> None:
    await api.ok(UPDATE, hash=h, json=SETTINGS)
    without = {k: v for k, v in SETTINGS.items() if k != "email_special"}
    await api.ok(UPDATE, hash=h, form=without)
    assert (await api.ok(READ, hash=h))["value"] == {**SETTINGS, "email_special": None}


@pytest.mark.parametrize("missing", ["email_from", "email_footer", "sms_originator",
                                     "caller_id"])
async def test_a_missing_required_field_is_code_7_naming_it(api: Api, h: str,
                                                            missing: str) -> None:
    await api.ok(UPDATE, hash=h, json=SETTINGS)
    before = await identities(api)
    body = await api.error(UPDATE, 7, 400, hash=h,
                           form={k: v for k, v in SETTINGS.items() if k != missing})
    assert body["errors"] == [{"parameter": missing, "error": MISSING}]
    assert await identities(api) == before


async def test_an_empty_email_from_is_refused(api: Api, h: str) -> None:
    body = await api.error(UPDATE, 7, 400, hash=h, form={**SETTINGS, "email_from": ""})
    assert body["errors"] == [{"parameter": "email_from", "error": "Must not be empty."}]


EMAIL_101 = "x" * 58 + "@" + "y" * 30 + ".example.com"
ADDRESS_255 = "r" * 64 + "@" + ("d" * 60 + ".") * 3 + "example"
BAD_VALUES: dict[str, tuple[str, str, str]] = {
    "email_from_over_100": ("email_from", EMAIL_101, "Longer than maximum length 100."),
    "email_from_not_an_address": ("email_from", "Navixy", NOT_EMAIL),
    "email_from_two_addresses": ("email_from", "a@d1.example, b@d1.example",
                                 "Must be one address, optionally with a display name: "
                                 "Name <name@example.com>."),
    "email_from_unquoted_comma_in_name": ("email_from", "Navixy, Inc. <a@d1.example>",
                                          "Must be one address, optionally with a display "
                                          "name: Name <name@example.com>."),
    "email_from_vertical_tab": ("email_from", 'Navixy <"\x0b"@d1.example>',
                                "Must not contain control characters."),
    "email_from_bidi_override": ("email_from", "\u202eNavixy <a@d1.example>",
                                 "Must not contain control characters."),
    "email_footer_over_600": ("email_footer", "f" * 601, "Longer than maximum length 600."),
    "email_special_display_name": ("email_special", "Reports <r@d1.example>",
                                   "Must be a bare address such as name@example.com, "
                                   "without a display name."),
    "email_special_over_255": ("email_special", ADDRESS_255.replace("@", "@d"),
                               "Longer than maximum length 255."),
    "sms_originator_over_20": ("sms_originator", "a" * 21, "Longer than maximum length 20."),
    "sms_originator_plus": ("sms_originator", "+491761234543", ORIGINATOR_CHARS),
    "sms_originator_underscore": ("sms_originator", "demo_navixy", ORIGINATOR_CHARS),
    "caller_id_newline": ("caller_id", "4917\n61234543", ORIGINATOR_CHARS),
    "caller_id_arabic_indic_digit": ("caller_id", "49\u0663", ORIGINATOR_CHARS),
}


@pytest.mark.parametrize("case", BAD_VALUES.values(), ids=list(BAD_VALUES))
async def test_bad_values_are_refused_and_nothing_changes(api: Api, h: str,
                                                          case: tuple[str, str, str]) -> None:
    field, value, error = case
    await api.ok(UPDATE, hash=h, json=SETTINGS)
    before = await identities(api)
    body = await api.error(UPDATE, 7, 400, hash=h, form={**SETTINGS, field: value})
    assert body["errors"] == [{"parameter": field, "error": error}]
    assert await identities(api) == before


async def test_the_limits_and_letters_of_any_script_are_accepted(api: Api, h: str) -> None:
    """The boundaries themselves pass, and the originators' letters are \\p{L} (any
    script), which the database's checks accept as well."""
    settings = {"email_from": "Flotte Müller " + "n" * 66 + " <alerts@d1.example>",
                "email_footer": "f" * 600, "email_special": ADDRESS_255,
                "sms_originator": "Флот-Müller 'A' .:/,", "caller_id": "0" * 20}
    assert [len(settings[k]) for k in FIELDS] == [100, 600, 255, 20, 20]
    await api.ok(UPDATE, hash=h, json=settings)
    assert (await api.ok(READ, hash=h))["value"] == settings


async def test_email_update_takes_the_display_name_form(api: Api, h: str) -> None:
    await api.ok(EMAIL_UPDATE, hash=h, form={"email_from": "Fleet Alerts <alerts@d1.example>",
                                             "email_footer": "-- Fleet footer"})
    assert (await api.ok(READ, hash=h))["value"] == {
        **UNSET, "email_from": "Fleet Alerts <alerts@d1.example>",
        "email_footer": "-- Fleet footer"}
    body = await api.error(EMAIL_UPDATE, 7, 400, hash=h,
                           form={"email_from": 'Fleet <"\x0b"@d1.example>'})
    assert body["errors"] == [{"parameter": "email_from",
                               "error": "Must not contain control characters."}]


async def test_permissions(api: Api) -> None:
    await api.dealer("none", permissions={"email_gateways": ["read"]})
    await api.dealer("reader", permissions={"notification_settings": ["read"]})
    await api.dealer("writer", permissions={"notification_settings": ["update"]})
    none, reader, writer = [await api.login(name) for name in ("none", "reader", "writer")]
    for action in (READ, UPDATE, EMAIL_READ, EMAIL_UPDATE):
        await api.error(action, 13, 403, hash=none, json=SETTINGS)
    await api.ok(READ, hash=reader)
    await api.error(UPDATE, 13, 403, hash=reader, json=SETTINGS)
    await api.ok(UPDATE, hash=writer, json=SETTINGS)
    await api.error(READ, 13, 403, hash=writer)
    assert [row.email_from for row in await identities(api)] == [None, None, SETTINGS["email_from"]]


async def test_changes_are_audited(api: Api, h: str) -> None:
    await api.ok(UPDATE, hash=h, json=SETTINGS)
    await api.ok(UPDATE, hash=h, json={**SETTINGS, "caller_id": "12345"})
    await api.ok(EMAIL_UPDATE, hash=h, json={"email_from": "a@d1.example"})
    entries = (await api.ok("gateways/email/audit", hash=h))["list"]
    assert [e["action"] for e in entries] == ["sender.update"] * 3
    assert [e["changes"] for e in entries] == [
        {"email_from": [SETTINGS["email_from"], "a@d1.example"],
         "email_footer": [SETTINGS["email_footer"], None]},
        {"caller_id": ["491761234543", "12345"]},
        {name: [None, value] for name, value in SETTINGS.items()},
    ]


async def test_the_on_premise_prefix_and_an_openapi_entry(api: Api, h: str) -> None:
    await api.ok(UPDATE, hash=h, json=SETTINGS, prefix="/panel/")
    assert (await api.ok(READ, hash=h, prefix="/panel/"))["value"] == SETTINGS
    document = await (await api.client.get("/openapi.json")).json()
    update = document["paths"]["/v2/panel/" + UPDATE]["post"]
    schema = update["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert sorted(schema["required"]) == ["caller_id", "email_footer", "email_from",
                                          "sms_originator"]
    assert update["description"] == "Needs the permission `notification_settings: update`."
    read = document["paths"]["/v2/panel/" + READ]["post"]["responses"]["200"]
    assert "value" in read["content"]["application/json"]["schema"]["required"]


@pytest.mark.parametrize(("column", "value"), [
    ("sms_originator", "a_b"), ("caller_id", "+4917"), ("caller_id", "0" * 21),
    ("email_special", "r@" + "d" * 254)])
async def test_the_database_refuses_what_the_service_never_writes(api: Api, column: str,
                                                                  value: str) -> None:
    """Migration 0005's checks: lengths, and the ASCII part of the originators' pattern."""
    dealer = await api.dealer("d1")
    with pytest.raises(IntegrityError, match=f"ck__dealers__{column}_"):
        await api.sql(f"UPDATE dealers SET {column} = :value WHERE id = :id",
                      value=value, id=dealer)
