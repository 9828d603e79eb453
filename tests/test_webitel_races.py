"""Races on one domain's Webitel email settings (SPEC sections 2 "Integrity", 3 and 4).

Bursts of simultaneous POST (upsert), DELETE and GET on `/api/v2/email/settings`
for one domain, with Navixy lists, binds and deletes mixed in, on two instances
of the service. No answer is ever a 5xx; a DELETE answers 200 "Removed N
record." (never 404, whatever it raced); and afterwards the dealer is bound to at
most one gateway, one it may use, with no gateway left over that the requests
made do not explain.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import PASSWORD, Api

SETTINGS = "/api/v2/email/settings"
REMOVED = re.compile(r"Removed ([01]) record\.")
ROUNDS = 6


def document(n: int) -> dict[str, Any]:
    secure = n % 2 == 0
    return {"provider": "smtp", "description": f"settings {n}", "from": f"n{n}@d.example",
            "options": {"host": f"mx{n}.d.example", "port": 465 if secure else 587,
                        "secure": secure, "auth": {"user": f"user{n}", "pass": f"pass-{n}"}}}


class Burst:
    """Requests to release together, and what each one answered."""

    def __init__(self) -> None:
        self.calls: list[Callable[[], Awaitable[tuple[str, int, Any]]]] = []
        self.answers: list[tuple[str, int, Any]] = []

    def webitel(self, client: TestClient, auth: dict[str, str], method: str,
                domain: str, json: Any = None) -> None:
        async def call() -> tuple[str, int, Any]:
            response = await client.request(method, SETTINGS, params={"domain": domain},
                                            json=json, headers=auth)
            assert response.content_type == "application/json", await response.text()
            return f"webitel {method}", response.status, await response.json()

        self.calls.append(call)

    def navixy(self, client: TestClient, h: str, action: str, **params: Any) -> None:
        async def call() -> tuple[str, int, Any]:
            response = await client.post("/v2/panel/" + action, json=params,
                                         headers={"Authorization": f"NVX {h}"})
            assert response.content_type == "application/json", await response.text()
            return f"navixy {action}", response.status, await response.json()

        self.calls.append(call)

    async def release(self, seed: int) -> list[tuple[str, int, Any]]:
        random.Random(seed).shuffle(self.calls)
        self.answers = list(await asyncio.gather(*(call() for call in self.calls)))
        for kind, status, body in self.answers:
            assert status < 500, (kind, status, body)
        return self.answers

    def of(self, kind: str) -> list[tuple[int, Any]]:
        return [(status, body) for k, status, body in self.answers if k == kind]


async def webitel_auth(client: TestClient, login: str) -> dict[str, str]:
    response = await client.post("/login", json={"username": login, "password": PASSWORD})
    body = await response.json()
    assert response.status == 200, body
    return {"X-Key": body["key"], "X-Access-Token": body["token"]}


async def webitel_get(client: TestClient, auth: dict[str, str],
                      domain: str) -> tuple[int, Any]:
    response = await client.get(SETTINGS, params={"domain": domain}, headers=auth)
    return response.status, await response.json()


def check_webitel_answers(burst: Burst, domain: str) -> int:
    """Every answer is one the SPEC allows; returns how many records the DELETEs removed."""
    for status, body in burst.of("webitel POST"):
        assert status == 200, body
        assert body["domain"] == domain and body["options"]["auth"]["pass"] is None, body
    removed = 0
    for status, body in burst.of("webitel DELETE"):
        assert status == 200, body
        assert body["status"] == "OK", body
        match = REMOVED.fullmatch(body["Info"])
        assert match, body
        removed += int(match.group(1))
    for status, body in burst.of("webitel GET"):
        assert (status, body) == (404, {"status": "error", "info": "Not found!"}) or (
            status == 200 and body["domain"] == domain), (status, body)
    return removed


async def state(api: Api, dealer_id: int) -> tuple[int | None, list[int], list[int]]:
    """(bound gateway, own gateway ids, the parent's leasable gateway ids)."""
    [dealer] = await api.sql("SELECT bound_gateway_id, parent_id FROM dealers WHERE id = :id",
                             id=dealer_id)
    own = await api.sql("SELECT id FROM email_gateways WHERE owner_id = :id ORDER BY id",
                        id=dealer_id)
    leasable = await api.sql("SELECT id FROM email_gateways WHERE owner_id = :p AND leasable",
                             p=dealer.parent_id or -1)
    return dealer.bound_gateway_id, [r.id for r in own], [r.id for r in leasable]


async def audit(api: Api, dealer_id: int) -> Counter[str]:
    rows = await api.sql("SELECT action FROM audit_events WHERE dealer_id = :id", id=dealer_id)
    return Counter(row.action for row in rows)


async def test_upserts_deletes_and_reads_of_one_domain(make_client, db) -> None:  # type: ignore[no-untyped-def]
    """20 POSTs, 4 DELETEs and reads at once, on two instances, a few times over."""
    instances = [await make_client(), await make_client()]
    api = Api(instances[0], db)
    dealer_id = await api.dealer("d1", domain="d1.example")
    auths = [await webitel_auth(client, "d1") for client in instances]
    hashes = [await Api(client, db).login("d1") for client in instances]
    removed = 0
    for round_ in range(ROUNDS):
        burst = Burst()
        for n in range(20):
            burst.webitel(instances[n % 2], auths[n % 2], "POST", "d1.example", document(n))
        for n in range(4):
            burst.webitel(instances[n % 2], auths[n % 2], "DELETE", "d1.example")
        for n in range(8):
            burst.webitel(instances[n % 2], auths[n % 2], "GET", "d1.example")
        for n in range(4):
            burst.navixy(instances[n % 2], hashes[n % 2], "gateways/email/list")
        await burst.release(seed=round_)
        removed += check_webitel_answers(burst, "d1.example")
        for status, body in burst.of("navixy gateways/email/list"):
            assert status == 200 and body["success"] is True, body
            assert len(body["own"]) <= 1, body

        bound, own, _ = await state(api, dealer_id)
        # The domain's settings are its bound own gateway: one, bound, or none at all.
        assert own == ([bound] if bound is not None else []), (bound, own)
        actions = await audit(api, dealer_id)
        assert actions["gateway.delete"] == removed
        assert actions["gateway.create"] - actions["gateway.delete"] == len(own)
        assert actions["gateway.create"] == actions["gateway.bind"]
        # What the last answer says is what is stored.
        status, body = await webitel_get(instances[0], auths[0], "d1.example")
        if bound is None:
            assert status == 404, body
        else:
            assert (status, body["_id"]) == (200, str(bound)), body


async def test_parent_child_and_both_faces_race_on_the_childs_settings(  # type: ignore[no-untyped-def]
        make_client, db) -> None:
    """The parent (Webitel, ?domain=child) and the child (Webitel, and Navixy bind and
    delete) at once: the child stays bound to at most one gateway, one it may use."""
    instances = [await make_client(), await make_client()]
    api = Api(instances[0], db)
    parent_id = await api.dealer("p", domain="p.example")
    child_id = await api.dealer("c", parent="p", domain="c.example")
    leased = await api.gateway(parent_id, "parent's relay", leasable=True)
    await api.gateway(parent_id, "parent's own")  # not leasable: never the child's
    parent_auth = await webitel_auth(instances[0], "p")
    child_auth = await webitel_auth(instances[1], "c")
    child_hash = await Api(instances[1], db).login("c")
    removed = 0
    for round_ in range(ROUNDS):
        _, own_before, _ = await state(api, child_id)
        burst = Burst()
        for n in range(12):
            client, auth = ((instances[0], parent_auth) if n % 2 else
                            (instances[1], child_auth))
            burst.webitel(client, auth, "POST", "c.example", document(n))
        for n in range(3):
            burst.webitel(instances[n % 2], (parent_auth, child_auth)[n % 2], "DELETE",
                          "c.example")
            burst.webitel(instances[n % 2], (parent_auth, child_auth)[n % 2], "GET",
                          "c.example")
        for n in range(3):  # the child rebinds to the leased gateway now and then
            burst.navixy(instances[n % 2], child_hash, "gateways/email/bind", gateway_id=leased)
        for gateway_id in own_before:  # and deletes what it owned before the burst
            burst.navixy(instances[1], child_hash, "gateways/email/delete",
                         gateway_id=gateway_id)
        await burst.release(seed=100 + round_)
        removed += check_webitel_answers(burst, "c.example")
        for status, body in burst.of("navixy gateways/email/bind"):
            assert (status, body) == (200, {"success": True}), body
        for status, body in burst.of("navixy gateways/email/delete"):
            # Gone already (a Webitel DELETE was first) reads as any missing id: 201.
            assert (status, body["success"]) == (200, True) or (
                status, body["status"]["code"]) == (400, 201), body

        bound, own, leasable = await state(api, child_id)
        assert leasable == [leased]
        assert bound is None or bound in own or bound == leased, (bound, own)
        # An own gateway that is not bound was unbound by a later bind to the leased one.
        for gateway_id in own:
            if gateway_id != bound:
                moved = await api.sql(
                    "SELECT count(*) AS n FROM audit_events WHERE dealer_id = :d AND "
                    "action = 'gateway.bind' AND changes -> 'bound_gateway' ->> 0 = :g",
                    d=child_id, g=str(gateway_id))
                assert moved[0].n >= 1, (gateway_id, bound, own)
        actions = await audit(api, child_id)
        assert actions["gateway.create"] - actions["gateway.delete"] == len(own)
        assert removed <= actions["gateway.delete"]
        # The parent's own gateways were never touched.
        _, parent_own, _ = await state(api, parent_id)
        assert len(parent_own) == 2
