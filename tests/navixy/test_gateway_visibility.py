"""Who may touch which gateway: own ∪ leasable, and the integrity rules around leasing.

A dealer may bind and send through own(D) ∪ leasable(D) and may update or delete
only own(D). Any other gateway must answer byte for byte like an id that does not
exist (code 201), so no response reveals that a foreign id exists, and must leave
the database untouched. A gateway leased by a sub-dealer cannot be deleted or
un-leased by its owner (code 261) until the sub-dealer binds elsewhere.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.support.api import Api, dealer_tree

MISSING_ID = 999999
NOT_FOUND = {"success": False, "status": {"code": 201, "description": "Not found in database"}}
EXTERNAL_LINKS = {"success": False, "status": {
    "code": 261,
    "description": "Entity has external links: sub-dealers are bound to this gateway"}}


async def family(api: Api) -> dict[str, int]:
    """grand → parent → (child, sibling); the child has its own gateway and a sender."""
    ids = await dealer_tree(api)
    ids["parent_private"] = await api.gateway(ids["parent"], "parent private")
    ids["parent_leasable"] = await api.gateway(ids["parent"], "parent relay", leasable=True)
    ids["sibling_own"] = await api.gateway(ids["sibling"], "sibling own", leasable=True)
    ids["child_own"] = await api.gateway(ids["child"], "child own")
    await api.bind(ids["sibling"], ids["sibling_own"])
    await api.bind(ids["parent"], ids["grand_leasable"])
    return ids


def whole_gateway(gateway_id: int, *, leasable: bool = True,
                  label: str = "Taken over") -> dict[str, Any]:
    return {"id": gateway_id, "label": label, "provider": "smtp", "leasable": leasable,
            "params": {"mail.smtp.host": "smtp.example.com"}}


def request_body(action: str, gateway_id: int) -> dict[str, Any]:
    if action == "update":
        return {"gateway": whole_gateway(gateway_id)}
    if action == "send_email":
        return {"to": "ops@example.org", "gateway_id": gateway_id}
    return {"gateway_id": gateway_id}


async def raw_call(api: Api, action: str, session_hash: str,
                   body: dict[str, Any]) -> tuple[int, bytes]:
    response = await api.client.post(f"/v2/panel/gateways/email/{action}", json=body,
                                     headers={"Authorization": f"NVX {session_hash}"})
    return response.status, await response.read()


async def assert_like_missing(api: Api, action: str, session_hash: str,
                              gateway_id: int) -> None:
    """Same status and bytes as a missing id, and nothing changed."""
    before = await api.snapshot()
    missing = await raw_call(api, action, session_hash, request_body(action, MISSING_ID))
    assert (missing[0], orjson.loads(missing[1])) == (400, NOT_FOUND)
    foreign = await raw_call(api, action, session_hash, request_body(action, gateway_id))
    assert foreign == missing
    assert await api.snapshot() == before


async def child_session(api: Api) -> str:
    """The child, logged in, with a sender so send_email cannot stop at a missing one."""
    session_hash = await api.login("child")
    await api.ok("dealer/settings/notification/email/update", hash=session_hash,
                 json={"email_from": "alerts@child.example"})
    return session_hash


FOREIGN_TO_CHILD = ["sibling_own", "grand_leasable", "parent_private"]
CASES = ([(action, foreign) for action in ("bind", "update", "delete", "send_email")
          for foreign in FOREIGN_TO_CHILD]
         + [("update", "parent_leasable"), ("delete", "parent_leasable")])


@pytest.mark.parametrize(("action", "foreign"), CASES)
async def test_foreign_gateway_answers_like_a_missing_id(api: Api, action: str,
                                                         foreign: str) -> None:
    ids = await family(api)
    session_hash = await child_session(api)
    await assert_like_missing(api, action, session_hash, ids[foreign])


async def test_top_level_dealer_cannot_bind_a_sub_dealers_gateway(api: Api) -> None:
    ids = await family(api)
    session_hash = await api.login("grand")
    for gateway in ("parent_leasable", "parent_private", "child_own"):
        await assert_like_missing(api, "bind", session_hash, ids[gateway])


async def test_top_level_dealer_cannot_send_through_a_sub_dealers_gateway(api: Api) -> None:
    ids = await family(api)
    session_hash = await api.login("grand")
    await api.ok("dealer/settings/notification/email/update", hash=session_hash,
                 json={"email_from": "owner@grand.example"})
    await assert_like_missing(api, "send_email", session_hash, ids["parent_leasable"])


# -- leasing ------------------------------------------------------------------

async def leased(api: Api) -> tuple[dict[str, int], str, str]:
    """The child bound, through the API, to its parent's leasable gateway."""
    ids = await family(api)
    child_hash = await child_session(api)
    assert await api.ok("gateways/email/bind", hash=child_hash,
                        json={"gateway_id": ids["parent_leasable"]}) == {"success": True}
    return ids, child_hash, await api.login("parent")


async def test_child_binds_to_its_parents_leasable_gateway(api: Api) -> None:
    ids, child_hash, _ = await leased(api)
    listed = await api.ok("gateways/email/list", hash=child_hash)
    assert listed["bound_gateway"] == ids["parent_leasable"]
    assert [g["id"] for g in listed["leasable"]] == [ids["parent_leasable"]]


async def test_owner_cannot_delete_a_gateway_a_sub_dealer_is_bound_to(api: Api) -> None:
    ids, _, parent_hash = await leased(api)
    before = await api.snapshot()
    assert await api.call("gateways/email/delete", hash=parent_hash,
                          json={"gateway_id": ids["parent_leasable"]}) == (403, EXTERNAL_LINKS)
    assert await api.snapshot() == before


async def test_owner_cannot_unlease_a_gateway_a_sub_dealer_is_bound_to(api: Api) -> None:
    ids, _, parent_hash = await leased(api)
    before = await api.snapshot()
    gateway = whole_gateway(ids["parent_leasable"], leasable=False, label="parent relay")
    assert await api.call("gateways/email/update", hash=parent_hash,
                          json={"gateway": gateway}) == (403, EXTERNAL_LINKS)
    assert await api.snapshot() == before


async def test_owner_may_still_edit_a_leased_gateway_that_stays_leasable(api: Api) -> None:
    ids, child_hash, parent_hash = await leased(api)
    await api.ok("gateways/email/update", hash=parent_hash,
                 json={"gateway": whole_gateway(ids["parent_leasable"], label="Renamed")})
    listed = await api.ok("gateways/email/list", hash=child_hash)
    assert listed["bound_gateway"] == ids["parent_leasable"]
    assert listed["leasable"][0]["label"] == "Renamed"


@pytest.mark.parametrize("action", ["update", "delete"])
async def test_child_cannot_change_the_gateway_it_leases(api: Api, action: str) -> None:
    ids, child_hash, _ = await leased(api)
    await assert_like_missing(api, action, child_hash, ids["parent_leasable"])


async def test_owner_may_delete_once_the_sub_dealer_binds_elsewhere(api: Api) -> None:
    ids, child_hash, parent_hash = await leased(api)
    await api.ok("gateways/email/bind", hash=child_hash, json={"gateway_id": ids["child_own"]})
    assert await api.ok("gateways/email/delete", hash=parent_hash,
                        json={"gateway_id": ids["parent_leasable"]}) == {"success": True}
    assert await api.sql("SELECT id FROM email_gateways WHERE id = :id",
                         id=ids["parent_leasable"]) == []
    listed = await api.ok("gateways/email/list", hash=child_hash)
    assert (listed["bound_gateway"], listed["leasable"]) == (ids["child_own"], [])


async def test_owner_may_unlease_once_the_sub_dealer_binds_elsewhere(api: Api) -> None:
    ids, child_hash, parent_hash = await leased(api)
    await api.ok("gateways/email/bind", hash=child_hash, json={"gateway_id": ids["child_own"]})
    gateway = whole_gateway(ids["parent_leasable"], leasable=False, label="parent relay")
    await api.ok("gateways/email/update", hash=parent_hash, json={"gateway": gateway})
    assert await api.sql("SELECT leasable FROM email_gateways WHERE id = :id",
                         id=ids["parent_leasable"]) == [(False,)]
    # Now private, it is foreign to the child like any other id.
    await assert_like_missing(api, "bind", child_hash, ids["parent_leasable"])
