"""`gateways/email/keys/*`: a dealer creates, lists and deletes its own submission keys.

A key is answered once, by `create`, and only its SHA-256 is stored; `list` never
carries it, nor does any log line. A dealer sees and deletes only its own live keys:
anything else answers byte for byte like a missing key (code 201).
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

import orjson
import pytest

from navixy_panel.domain import permissions as catalogue
from tests.support.api import Api

KEY = re.compile(r"npk_[A-Za-z0-9_-]{43}")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")
NOT_FOUND = {"success": False, "status": {"code": 201, "description": "Not found in database"}}
NOT_PERMITTED = {"success": False, "status": {"code": 13,
                                              "description": "Operation not permitted"}}


def invalid(parameter: str, error: str) -> dict[str, Any]:
    return {"success": False, "status": {"code": 7, "description": "Invalid parameters"},
            "errors": [{"parameter": parameter, "error": error}]}


async def raw(api: Api, action: str, session_hash: str, body: dict[str, Any]) -> tuple[int, bytes]:
    response = await api.client.post(f"/v2/panel/gateways/email/keys/{action}", json=body,
                                     headers={"Authorization": f"NVX {session_hash}"})
    return response.status, await response.read()


async def stored_keys(api: Api) -> list[Any]:
    return await api.sql("SELECT id, dealer_id, label, digest, revoked_at IS NOT NULL AS revoked "
                         "FROM submission_keys ORDER BY id")


async def test_create_list_delete(api: Api) -> None:
    dealer_id = await api.dealer("d1")
    h = await api.login("d1")
    assert await api.ok("gateways/email/keys/list", hash=h) == {"success": True, "list": []}

    # Navixy's admin panel posts form bodies; a JSON body works the same.
    first = await api.ok("gateways/email/keys/create", hash=h, form={"label": "Alarms"})
    assert set(first) == {"success", "id", "key"} and first["id"] == 1
    assert KEY.fullmatch(first["key"]), first
    second = await api.ok("gateways/email/keys/create", hash=h, json={})
    assert second["id"] == 2 and KEY.fullmatch(second["key"]) and second["key"] != first["key"]

    rows = await stored_keys(api)
    assert [(r.id, r.dealer_id, r.label, bytes(r.digest), r.revoked) for r in rows] == [
        (1, dealer_id, "Alarms", hashlib.sha256(first["key"].encode()).digest(), False),
        (2, dealer_id, "", hashlib.sha256(second["key"].encode()).digest(), False)]

    listed = await api.ok("gateways/email/keys/list", hash=h)
    assert [{k: v for k, v in entry.items() if k != "created"} for entry in listed["list"]] == [
        {"id": 1, "label": "Alarms", "last_used": None},
        {"id": 2, "label": "", "last_used": None}]
    assert all(ISO.fullmatch(entry["created"]) for entry in listed["list"]), listed
    assert first["key"] not in str(listed) and second["key"] not in str(listed)

    assert await api.ok("gateways/email/keys/delete", hash=h, form={"key_id": "1"}) == {
        "success": True}
    assert [e["id"] for e in (await api.ok("gateways/email/keys/list", hash=h))["list"]] == [2]
    assert [r.revoked for r in await stored_keys(api)] == [True, False]
    # Deleted is gone: a second delete answers exactly as a key that never existed.
    again = await raw(api, "delete", h, {"key_id": 1})
    assert again == await raw(api, "delete", h, {"key_id": 999999})
    assert (again[0], orjson.loads(again[1])) == (400, NOT_FOUND)


async def test_a_dealer_never_sees_or_deletes_another_dealers_keys(api: Api) -> None:
    await api.dealer("parent")
    await api.dealer("child", parent="parent")
    await api.dealer("other")
    parent, child, other = [await api.login(login) for login in ("parent", "child", "other")]
    child_key = await api.ok("gateways/email/keys/create", hash=child, json={"label": "c"})
    await api.ok("gateways/email/keys/create", hash=other, json={"label": "o"})

    for session_hash, own in ((parent, []), (child, [child_key["id"]]), (other, [2])):
        listed = await api.ok("gateways/email/keys/list", hash=session_hash)
        assert [entry["id"] for entry in listed["list"]] == own

    before = await stored_keys(api)
    missing = await raw(api, "delete", parent, {"key_id": 999999})
    assert (missing[0], orjson.loads(missing[1])) == (400, NOT_FOUND)
    # Not even a parent may delete its sub-dealer's key; the answer reveals nothing.
    assert await raw(api, "delete", parent, {"key_id": child_key["id"]}) == missing
    assert await raw(api, "delete", other, {"key_id": child_key["id"]}) == missing
    assert await stored_keys(api) == before


@pytest.mark.parametrize(("action", "operation", "body"), [
    ("list", "read", {}),
    ("create", "create", {"label": "x"}),
    ("delete", "delete", {"key_id": 1}),
])
async def test_each_action_needs_its_permission(api: Api, action: str, operation: str,
                                                body: dict[str, Any]) -> None:
    await api.dealer("owner")
    owner = await api.login("owner")
    await api.ok("gateways/email/keys/create", hash=owner, json={"label": "kept"})
    granted = catalogue.everything()
    granted["email_gateways"] = [op for op in granted["email_gateways"] if op != operation]
    await api.dealer("d1", permissions=granted)
    before = await stored_keys(api)
    status, answer = await raw(api, action, await api.login("d1"), body)
    assert (status, orjson.loads(answer)) == (403, NOT_PERMITTED)
    assert await stored_keys(api) == before


async def test_refused_parameters(api: Api) -> None:
    await api.dealer("d1")
    h = await api.login("d1")
    body = await api.error("gateways/email/keys/create", 7, 400, hash=h,
                           json={"label": "x" * 101})
    assert body == invalid("label", "Longer than maximum length 100.")
    body = await api.error("gateways/email/keys/create", 7, 400, hash=h, json={"label": 5})
    assert body == invalid("label", "Not a valid string.")
    body = await api.error("gateways/email/keys/delete", 7, 400, hash=h, json={})
    assert body == invalid("key_id", "Missing data for required field.")
    body = await api.error("gateways/email/keys/delete", 7, 400, hash=h, form={"key_id": "1.5"})
    assert body == invalid("key_id", "Not a valid integer.")
    body = await api.error("gateways/email/keys/delete", 7, 400, hash=h, json={"key_id": 0})
    assert body == invalid("key_id", "Must be greater than or equal to 1 and less than or "
                                     "equal to 9223372036854775807.")
    # A label of exactly 100 characters is the longest accepted.
    await api.ok("gateways/email/keys/create", hash=h, json={"label": "x" * 100})
    assert [r.label for r in await stored_keys(api)] == ["x" * 100]


async def test_without_a_session(api: Api) -> None:
    await api.error("gateways/email/keys/list", 3, 400)
    await api.error("gateways/email/keys/create", 4, 400, hash="f" * 32, json={"label": "x"})
    assert await stored_keys(api) == []


async def test_the_key_never_reaches_the_log(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await api.dealer("d1")
    h = await api.login("d1")
    created = [(await api.ok("gateways/email/keys/create", hash=h, form={"label": "f"}))["key"],
               (await api.ok("gateways/email/keys/create", hash=h, json={"label": "j"}))["key"]]
    await api.ok("gateways/email/keys/list", hash=h)
    await api.ok("gateways/email/keys/delete", hash=h, json={"key_id": 1})
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("/v2/panel/gateways/email/keys/create" in line for line in access), access
    for key in created:
        assert key not in caplog.text
        assert key.removeprefix("npk_") not in caplog.text
