"""Caches on the list path stay correct: two app instances on one database.

A write is seen at once by the instance that made it and within a second by
the other (LISTEN/NOTIFY); an ended session is refused the same way; without
the notification connection, caches are bypassed.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.api import Api
from tests.support.cache import StatementCounter, caches_of, eventually, instances, list_of


async def test_uncached_list_costs_one_statement(make_client, db) -> None:  # type: ignore[no-untyped-def]
    api = Api(await make_client(cache_enabled=False), db)
    parent = await api.dealer("parent")
    child = await api.dealer("child", parent="parent")
    for n in range(3):
        await api.gateway(parent, f"lease {n}", leasable=True)
        await api.bind(child, await api.gateway(child, f"own {n}"))
    h = await api.login("child")
    counter = StatementCounter(api.client)
    try:
        body = await list_of(api, h)
    finally:
        counter.close()
    assert (len(body["own"]), len(body["leasable"])) == (3, 3)
    assert counter.count == 1  # the session and the list in one statement


async def test_cached_list_costs_no_statement(make_client, db) -> None:  # type: ignore[no-untyped-def]
    api, _ = await instances(make_client, db)
    await api.gateway(await api.dealer("d1"), "own")
    h = await api.login("d1")
    first = await list_of(api, h)
    counter = StatementCounter(api.client)
    try:
        assert await list_of(api, h) == first
    finally:
        counter.close()
    assert counter.count == 0


async def test_logout_is_refused_at_once_here_and_within_a_second_there(make_client, db) -> None:  # type: ignore[no-untyped-def]
    a, b = await instances(make_client, db)
    await a.dealer("d1")
    h = await a.login("d1")
    await list_of(a, h)
    await list_of(b, h)  # both instances now hold the session in cache
    await a.ok("account/logout", hash=h)
    await a.error("gateways/email/list", 4, 400, hash=h)  # at once on the writer

    async def refused_on_b() -> bool:
        status, _ = await b.call("gateways/email/list", hash=h)
        return status == 400

    waited = await eventually(refused_on_b)
    assert waited < 1.0


@pytest.mark.parametrize("change", [{"block_status": "BLOCK_LOGIN"},
                                    {"password_hash": "$argon2id$new"}])
async def test_block_or_password_change_from_outside_reaches_both_instances(  # type: ignore[no-untyped-def]
        make_client, db, change: dict[str, str]) -> None:
    a, b = await instances(make_client, db)
    await a.dealer("d1")
    h = await a.login("d1")
    await list_of(a, h)
    await list_of(b, h)
    # As `navixy-panel dealer update d1 --block-status …` / `--password-stdin` does,
    # from another process:
    async with db.begin() as session:
        from navixy_panel.services import dealers

        await dealers.update_dealer(session, "d1", **change)  # straight SQL, no cache told
    for api in (a, b):
        async def refused(api: Api = api) -> bool:
            return (await api.call("gateways/email/list", hash=h))[0] == 400

        await eventually(refused)


async def test_writes_through_either_face_reach_the_other_instance(make_client, db) -> None:  # type: ignore[no-untyped-def]
    a, b = await instances(make_client, db)
    await a.dealer("d1", domain="d1.example")
    ha, hb = await a.login("d1"), await b.login("d1")
    assert (await list_of(b, hb))["own"] == []
    gateway = {"label": "new", "provider": "smtp", "params": {"mail.smtp.host": "smtp.example"}}
    created = await a.ok("gateways/email/create", hash=ha,
                         form={"gateway": json.dumps(gateway)})
    assert [g["id"] for g in (await list_of(a, ha))["own"]] == [created["id"]]  # at once

    async def seen_on_b() -> bool:
        return len((await list_of(b, hb))["own"]) == 1

    await eventually(seen_on_b)
    # Through the Webitel face on A: a new bound gateway, seen on B.
    login = await (await a.client.post("/login", json={"username": "d1",
                                                       "password": "correct horse battery staple"
                                                       })).json()
    response = await a.client.post("/api/v2/email/settings", headers={
        "X-Key": login["key"], "X-Access-Token": login["token"]}, json={
        "provider": "smtp", "description": "webitel", "from": "a@d1.example",
        "options": {"host": "mx.d1.example", "port": 465, "secure": True}})
    assert response.status == 200
    webitel_id = int((await response.json())["_id"])
    assert (await list_of(a, ha))["bound_gateway"] == webitel_id

    async def bound_on_b() -> bool:
        return (await list_of(b, hb))["bound_gateway"] == webitel_id

    await eventually(bound_on_b)


async def test_without_the_notification_connection_caches_are_bypassed(make_client, db) -> None:  # type: ignore[no-untyped-def]
    a, b = await instances(make_client, db)
    dealer = await a.dealer("d1")
    h = await a.login("d1")
    await list_of(b, h)
    await a.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'navixy-panel-listener'")
    await eventually(lambda: asyncio.sleep(0, not caches_of(b).enabled), within=2)
    # A write nobody is told about (no listener now): B must still see it.
    async with db.begin() as session:
        from sqlalchemy import text

        await session.execute(text("UPDATE dealers SET bound_gateway_id = NULL"))
        await session.execute(text(
            "INSERT INTO email_gateways (owner_id, label, params) VALUES (:d, 'silent', "
            "'{\"mail.smtp.host\": \"x.example\"}')"), {"d": dealer})
    labels = [g["label"] for g in (await list_of(b, h))["own"]]
    assert labels == ["silent"]
    # The listener comes back by itself and caching resumes.
    await eventually(lambda: asyncio.sleep(0, caches_of(b).enabled), within=5)
    await list_of(b, h)
    counter = StatementCounter(b.client)
    try:
        await list_of(b, h)
    finally:
        counter.close()
    assert counter.count == 0
