"""Whose changes a dealer's audit trail names (issue 11, 9a).

A dealer's trail holds changes made for it by dealers above it (Webitel's
`?domain=` of a sub-dealer) and by the operator (command line). The dealer sees
the login and client address only of its own changes: the others read as
`"parent"` or `"operator"` with `client_address` null.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.api import PASSWORD, Api

SETTINGS = "/api/v2/email/settings"


def document(description: str, host: str = "mx.child.example") -> dict[str, Any]:
    return {"provider": "smtp", "description": description,
            "options": {"host": host, "port": 465, "secure": True}}


async def webitel_call(api: Api, login: str, method: str, domain: str,
                       body: dict[str, Any]) -> None:
    response = await api.client.post("/login", json={"username": login, "password": PASSWORD})
    session = await response.json()
    response = await api.client.request(method, SETTINGS, params={"domain": domain}, json=body,
                                        headers={"X-Key": session["key"],
                                                 "X-Access-Token": session["token"]})
    assert response.status == 200, await response.text()


async def test_changes_made_from_above_hide_their_author(api: Api) -> None:
    await api.dealer("grand-login", domain="grand.example")
    await api.dealer("parent-login", parent="grand-login", domain="parent.example")
    child_id = await api.dealer("child", parent="parent-login", domain="child.example")
    # The parent creates the child's settings, the grandparent replaces them,
    # the operator adds a gateway, and the child changes its sender identity.
    await webitel_call(api, "parent-login", "POST", "child.example", document("from parent"))
    await webitel_call(api, "grand-login", "PUT", "child.example", document("from grand"))
    operator_gateway = await api.gateway(child_id, "from operator")
    child = await api.login("child")
    await api.ok("dealer/settings/notification/email/update", hash=child,
                 json={"email_from": "a@child.example"})

    body = await api.ok("gateways/email/audit", hash=child)
    seen = [(e["action"], e["actor"], e["face"], e["client_address"]) for e in body["list"]]
    assert seen == [
        ("sender.update", "child", "navixy", "127.0.0.1"),
        ("gateway.create", "operator", "cli", None),
        ("gateway.update", "parent", "webitel", None),
        ("gateway.bind", "parent", "webitel", None),
        ("gateway.create", "parent", "webitel", None),
    ]
    assert body["list"][1]["gateway_id"] == operator_gateway
    # What changed stays visible: it is the child's own gateway.
    assert body["list"][2]["changes"]["label"] == ["from parent", "from grand"]
    text = json.dumps(body)
    assert "parent-login" not in text and "grand-login" not in text

    # The parent's own trail still names it (its change to the child is not in it).
    await webitel_call(api, "parent-login", "POST", "parent.example", document("own"))
    body = await api.ok("gateways/email/audit", hash=await api.login("parent-login"))
    assert [(e["action"], e["actor"], e["client_address"]) for e in body["list"]] == [
        ("gateway.bind", "parent-login", "127.0.0.1"),
        ("gateway.create", "parent-login", "127.0.0.1")]


async def test_paging_and_count_are_unchanged_by_masking(api: Api) -> None:
    await api.dealer("parent-login", domain="parent.example")
    await api.dealer("child", parent="parent-login", domain="child.example")
    for n in range(3):
        await webitel_call(api, "parent-login", "POST", "child.example", document(f"v{n}"))
    body = await api.ok("gateways/email/audit", hash=await api.login("child"),
                        json={"limit": 2, "offset": 1})
    assert body["count"] == 4  # create, bind, update, update
    assert [(e["action"], e["actor"], e["client_address"]) for e in body["list"]] == [
        ("gateway.update", "parent", None), ("gateway.bind", "parent", None)]
