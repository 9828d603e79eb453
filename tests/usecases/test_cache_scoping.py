"""Per-dealer invalidation, with two app instances on one database.

A write evicts only the cached answers that depend on it: its dealer's, and its
direct children's when a leasable gateway changes. Unrelated writes (other
dealers' gateways, logins, logouts) leave a dealer's cached list in place: it
then costs no statement at all.
"""

from __future__ import annotations

import asyncio

from tests.support.api import Api
from tests.support.cache import StatementCounter, caches_of, eventually, instances, list_of


async def _labels(api: Api, h: str, kind: str) -> list[str]:
    return [g["label"] for g in (await list_of(api, h))[kind]]


async def test_parent_leasable_change_reaches_every_child_on_both_instances(  # type: ignore[no-untyped-def]
        make_client, db) -> None:
    a, b = await instances(make_client, db)
    parent = await a.dealer("parent")
    children = [f"child{n}" for n in range(5)]
    for login in children:
        await a.dealer(login, parent="parent")
    await a.gateway(parent, "relay", leasable=True)
    hashes = {login: await a.login(login) for login in children}
    h_parent = await a.login("parent")
    for h in hashes.values():  # every child's list is now cached on both instances
        assert await _labels(a, h, "leasable") == ["relay"]
        assert await _labels(b, h, "leasable") == ["relay"]
    relay = (await list_of(a, h_parent))["own"][0]
    relay["label"] = "renamed relay"
    await a.ok("gateways/email/update", hash=h_parent, json={"gateway": relay})
    for h in hashes.values():  # at once on the writing instance
        assert await _labels(a, h, "leasable") == ["renamed relay"]
    for h in hashes.values():  # within a second on the other
        async def seen(h: str = h) -> bool:
            return await _labels(b, h, "leasable") == ["renamed relay"]

        assert await eventually(seen) < 1.0
    relay["leasable"] = False  # un-leasing takes it out of every child's list
    relay["label"] = "private relay"
    await a.ok("gateways/email/update", hash=h_parent, json={"gateway": relay})
    for api in (a, b):
        for h in hashes.values():
            async def gone(api: Api = api, h: str = h) -> bool:
                return await _labels(api, h, "leasable") == []

            await eventually(gone)


async def test_unrelated_writes_cost_a_cached_list_no_statement(make_client, db) -> None:  # type: ignore[no-untyped-def]
    a, b = await instances(make_client, db)
    watched = await a.dealer("watched")
    await a.gateway(watched, "mine")
    h_watched = await a.login("watched")
    others = []
    for n in range(4):
        other = await a.dealer(f"other{n}")
        others.append((other, await a.login(f"other{n}")))
        await a.gateway(other, f"theirs {n}")
    # A read that overlaps any invalidation is not cached (it may be stale), so let the
    # arranging writes' notifications arrive before caching the watched list.
    await asyncio.sleep(0.5)
    first = {api: await list_of(api, h_watched) for api in (a, b)}
    counters = [StatementCounter(api.client) for api in (a, b)]
    try:
        # Churn elsewhere, through the API on instance A: updates, binds, logouts, logins.
        for n, (_, h) in enumerate(others):
            gateway = (await list_of(a, h))["own"][0]
            gateway["label"] = f"changed {n}"
            await a.ok("gateways/email/update", hash=h, json={"gateway": gateway})
            await a.ok("gateways/email/bind", hash=h, form={"gateway_id": str(gateway["id"])})
            await a.ok("account/logout", hash=h)
            await a.login(f"other{n}")
        await asyncio.sleep(0.5)  # every notification has reached B by now
        for counter in counters:
            counter.count = 0
        for api in (a, b):
            assert await list_of(api, h_watched) == first[api]
    finally:
        for counter in counters:
            counter.close()
    assert [counter.count for counter in counters] == [0, 0]


async def test_a_notification_evicts_only_the_named_dealer(make_client, db) -> None:  # type: ignore[no-untyped-def]
    """A write made outside the service (a manual UPDATE) is seen through its trigger."""
    a, b = await instances(make_client, db)
    one, two = await a.dealer("one"), await a.dealer("two")
    await a.gateway(one, "one's")
    await a.gateway(two, "two's")
    h_one, h_two = await a.login("one"), await a.login("two")
    await list_of(b, h_one)
    await list_of(b, h_two)
    await a.db_execute("UPDATE email_gateways SET label = 'edited' WHERE owner_id = :d", d=one)

    async def seen() -> bool:
        return await _labels(b, h_one, "own") == ["edited"]

    await eventually(seen)
    counter = StatementCounter(b.client)
    try:
        assert await _labels(b, h_two, "own") == ["two's"]
    finally:
        counter.close()
    assert counter.count == 0
    assert len(caches_of(b).lists) >= 1
