"""Races on one domain's Webitel email settings: the integrity rules hold on both faces.

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

from tests.support.api import Api
from tests.support.webitel import webitel_headers

SETTINGS = "/api/v2/email/settings"
REMOVED = re.compile(r"Removed ([01]) record\.")
ROUNDS = 6
# A burst's requests are spread over four instances, at most ten on each: each instance
# keeps ten pooled connections open, so a burst opens none (on a busy machine, opening
# them can outlast the 1.5 s connect time-out, a 503 that says nothing about races).
INSTANCES = 4


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


class Instance:
    """One app on the shared database, with sessions of the dealers on both faces."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.auth: dict[str, dict[str, str]] = {}
        self.hash: dict[str, str] = {}


async def start(make_client, db, logins: list[str]) -> list[Instance]:  # type: ignore[no-untyped-def]
    instances = [Instance(await make_client()) for _ in range(INSTANCES)]
    for instance in instances:
        for login in logins:
            instance.auth[login] = await webitel_headers(instance.client, login)
            instance.hash[login] = await Api(instance.client, db).login(login)
        for _ in range(10):  # open the pool's ten connections at once
            answers = await asyncio.gather(*(instance.client.get("/ready") for _ in range(10)))
            if all(answer.status == 200 for answer in answers):
                break
    return instances


async def webitel_get(client: TestClient, auth: dict[str, str],
                      domain: str) -> tuple[int, Any]:
    response = await client.get(SETTINGS, params={"domain": domain}, headers=auth)
    return response.status, await response.json()


def check_webitel_answers(burst: Burst, domain: str) -> int:
    """Every answer is one the contract allows; returns how many records the DELETEs removed."""
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
    """20 POSTs, 4 DELETEs and reads at once, on several instances, a few times over."""
    api = Api(await make_client(), db)
    dealer_id = await api.dealer("d1", domain="d1.example")
    instances = await start(make_client, db, ["d1"])
    removed = 0
    for round_ in range(ROUNDS):
        burst = Burst()
        for n in range(20):
            one = instances[n % INSTANCES]
            burst.webitel(one.client, one.auth["d1"], "POST", "d1.example", document(n))
        for n in range(4):
            one = instances[n % INSTANCES]
            burst.webitel(one.client, one.auth["d1"], "DELETE", "d1.example")
        for n in range(8):
            one = instances[n % INSTANCES]
            burst.webitel(one.client, one.auth["d1"], "GET", "d1.example")
        for n in range(4):
            one = instances[n % INSTANCES]
            burst.navixy(one.client, one.hash["d1"], "gateways/email/list")
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
        first = instances[0]
        status, body = await webitel_get(first.client, first.auth["d1"], "d1.example")
        if bound is None:
            assert status == 404, body
        else:
            assert (status, body["_id"]) == (200, str(bound)), body


async def test_parent_child_and_both_faces_race_on_the_childs_settings(  # type: ignore[no-untyped-def]
        make_client, db) -> None:
    """The parent (Webitel, ?domain=child) and the child (Webitel, and Navixy bind and
    delete) at once: the child stays bound to at most one gateway, one it may use."""
    api = Api(await make_client(), db)
    parent_id = await api.dealer("p", domain="p.example")
    child_id = await api.dealer("c", parent="p", domain="c.example")
    leased = await api.gateway(parent_id, "parent's relay", leasable=True)
    await api.gateway(parent_id, "parent's own")  # not leasable: never the child's
    instances = await start(make_client, db, ["p", "c"])
    removed = 0
    for round_ in range(ROUNDS):
        _, own_before, _ = await state(api, child_id)
        burst = Burst()
        for n in range(12):
            one = instances[n % INSTANCES]
            login = ("p", "c")[n % 2]
            burst.webitel(one.client, one.auth[login], "POST", "c.example", document(n))
        for n in range(3):
            one = instances[n % INSTANCES]
            burst.webitel(one.client, one.auth[("p", "c")[n % 2]], "DELETE", "c.example")
            burst.webitel(one.client, one.auth[("c", "p")[n % 2]], "GET", "c.example")
        for n in range(3):  # the child rebinds to the leased gateway now and then
            one = instances[(n + 1) % INSTANCES]
            burst.navixy(one.client, one.hash["c"], "gateways/email/bind", gateway_id=leased)
        for n, gateway_id in enumerate(own_before):  # and deletes what it owned before
            one = instances[(n + 2) % INSTANCES]
            burst.navixy(one.client, one.hash["c"], "gateways/email/delete",
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
