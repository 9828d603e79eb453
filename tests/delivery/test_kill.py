"""`kill -9` of a delivering `serve` process in the middle of sending, then a new one
on the same database: every acknowledged message is delivered and marked sent, and
a message reaches the relay twice only if it was being sent when the process died.

The relay takes 50 ms per message and holds every tenth for 0.4 s more at DATA, so
batches are in flight whenever the process is killed. Just before the kill the
process is stopped (SIGSTOP) and the database read: a stopped process sends and
commits nothing more, so the messages in `sending` then are exactly those in flight
at the kill. What the stopped process had already sent still reaches the relay, as it
would from a process killed outright.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.api import Api
from tests.support.delivery import MESSAGES, dealer_on_relay, new_key, wait_until
from tests.support.instances import environment, serving
from tests.support.processes import scratch_folder
from tests.support.relays import Watcher, watching_relay

MESSAGE_COUNT = 200
LEASE_SECONDS = 3


@pytest.fixture
def folder() -> Iterator[Path]:
    with scratch_folder("kill") as path:
        yield path


async def submit_over_http(base: str, keys: list[str], count: int) -> list[int]:
    """`count` messages spread over the keys, 16 requests at once; the ids of those
    acknowledged (202)."""
    gate = asyncio.Semaphore(16)
    acknowledged: list[int] = []

    async def one(session: aiohttp.ClientSession, number: int) -> None:
        body = {"to": ["customer@example.com"], "subject": f"m{number}",
                "text": f"token {number}"}
        async with gate, session.post(base + MESSAGES, json=body, headers={
                "Authorization": f"Bearer {keys[number % len(keys)]}"}) as response:
            answer = await response.json()
            assert response.status == 202, answer
            acknowledged.append(int(answer["id"]))

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, number) for number in range(count)))
    return acknowledged


async def all_sent(api: Api, ids: list[int]) -> bool:
    rows = await api.sql("SELECT count(*) AS n FROM mail_messages WHERE id = ANY(:ids) AND "
                         "status = 'sent'", ids=ids)
    return bool(rows[0].n == len(ids))


async def test_kill_9_in_the_middle_of_sending(api: Api, database_url: str,
                                               folder: Path) -> None:
    watcher = Watcher(data_seconds=0.05, stall=lambda subject: subject.endswith("0"),
                      stall_seconds=0.4)
    with watching_relay(watcher) as port:
        keys = []
        for index in range(2):  # 2 gateways, 2 connections each: 4 in flight at most
            dealer_id, _ = await dealer_on_relay(api, f"dealer{index}", port)
            keys.append(await new_key(api.client, dealer_id))
        env = environment(database_url, folder, DELIVERY_LEASE=str(LEASE_SECONDS),
                          DELIVERY_RETRY_BASE="0.5", DELIVERY_CONNECTIONS_PER_GATEWAY="2")
        async with serving(env, folder, "first") as first:
            acknowledged = await submit_over_http(first.base, keys, MESSAGE_COUNT)

            async def under_way() -> bool:
                return watcher.count() >= MESSAGE_COUNT // 3

            await wait_until(under_way, timeout=30, what="a third at the relay")
            first.process.send_signal(signal.SIGSTOP)
            await asyncio.sleep(0.5)  # what it had sent to the database is committed
            in_flight = {row.id for row in await api.sql(
                "SELECT id FROM mail_messages WHERE status = 'sending'")}
            first.process.kill()
            await asyncio.to_thread(first.process.wait)
            arrived_at_kill = watcher.count()
        async with serving(env, folder, "second") as second:
            await wait_until(lambda: all_sent(api, acknowledged),
                             timeout=60, what="every acknowledged message sent")
            await asyncio.sleep(0.5)  # nothing more may arrive
        assert second.process.poll() is not None and first.process.poll() is not None
    rows = await api.sql("SELECT id, message_id, status FROM mail_messages")
    message_ids = {row.id: row.message_id for row in rows}
    copies = watcher.copies()
    delivered = {number for number in acknowledged if copies[message_ids[number]] >= 1}
    lost = set(acknowledged) - delivered
    duplicated = {number for number, message_id in message_ids.items()
                  if copies[message_id] > 1}
    figures = (f"\nkill -9: acknowledged {len(acknowledged)}, delivered {len(delivered)}, "
               f"lost {len(lost)}, duplicates {len(duplicated)}, in flight at the kill "
               f"{len(in_flight)}, at the relay before the kill {arrived_at_kill}")
    print(figures)  # noqa: T201 - the figures, shown with -s
    assert len(acknowledged) == MESSAGE_COUNT
    assert in_flight, "nothing was being sent at the kill"
    assert lost == set()
    assert {row.status for row in rows} == {"sent"}
    assert set(copies) == set(message_ids.values())  # nothing the queue does not know
    assert max(copies.values()) <= 2
    assert duplicated <= in_flight, duplicated - in_flight
