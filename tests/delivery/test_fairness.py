"""Fairness, watched at the relays: one dealer's backlog never holds up another dealer's
`alarm`, and within one dealer `alarm` goes before `normal` before `bulk`.

Backlogs are queued by an app that does not deliver; a second app on the same
database then delivers them, as an instance starting on a full queue does. The
5,000-message backlog is one message submitted over HTTP and copied in SQL, each copy
with its own Message-ID and subject, as the submit use case stores them: 5,000
submissions would take this test over a minute on a busy machine, and what is tested
here is the delivery's order, not the submission (tests/delivery/test_submit_http.py).
"""

from __future__ import annotations

import asyncio
import time

from tests.support.api import Api
from tests.support.delivery import dealer_on_relay, new_key, submit, wait_until
from tests.support.relays import Watcher, watching_relay

BACKLOG = 5_000


async def queue_backlog(api: Api, key: str, count: int) -> None:
    """`count` `bulk` messages of the key's dealer, subjects "bulk 1" to "bulk COUNT"."""
    status, body = await submit(api.client, key, subject="bulk 1", priority="bulk")
    assert status == 202, body
    await api.sql(
        "INSERT INTO mail_messages (dealer_id, key_id, priority, message_id, subject, "
        "recipients, content, size_bytes) SELECT dealer_id, key_id, priority, "
        "'<' || replace(gen_random_uuid()::text, '-', '') || '@navixy-panel>', "
        "'bulk ' || n, recipients, content, size_bytes FROM mail_messages "
        "CROSS JOIN generate_series(2, :count) AS n WHERE id = :id",
        count=count, id=int(body["id"]))
    rows = await api.sql("SELECT count(DISTINCT message_id) AS n FROM mail_messages")
    assert rows[0].n == count


async def test_an_alarm_overtakes_another_dealers_bulk_backlog(make_client, api: Api) -> None:  # type: ignore[no-untyped-def]
    """`bulk` has 5,000 `bulk` messages on its own gateway (4 connections, the default);
    then `other` (its own gateway) and `lessee` (bulk's sub-dealer, on bulk's gateway,
    leased) each submit one `alarm`. Both are delivered before half the backlog is."""
    queuing = await make_client(deliver=False)
    api.client = queuing
    backlog_relay, other_relay = Watcher(), Watcher()
    with watching_relay(backlog_relay) as backlog_port, \
            watching_relay(other_relay) as other_port:
        bulk_id, gateway_id = await dealer_on_relay(api, "bulk", backlog_port)
        await api.sql("UPDATE email_gateways SET leasable = true WHERE id = :id",
                      id=gateway_id)
        lessee_id = await api.dealer("lessee", parent="bulk")
        await api.bind(lessee_id, gateway_id)
        await api.sql("UPDATE dealers SET email_from = 'lessee@dealer.example' WHERE id = :id",
                      id=lessee_id)
        other_id, _ = await dealer_on_relay(api, "other", other_port)
        bulk_key = await new_key(queuing, bulk_id)
        lessee_key = await new_key(queuing, lessee_id)
        other_key = await new_key(queuing, other_id)
        await queue_backlog(api, bulk_key, BACKLOG)
        delivering = await make_client(deliver=True)

        async def under_way() -> bool:
            return backlog_relay.count() >= 100

        await wait_until(under_way, timeout=30, what="the backlog under way")
        submitted = time.monotonic()
        done_at_submit = backlog_relay.count()
        answers = await asyncio.gather(
            submit(delivering, other_key, subject="alarm other", priority="alarm"),
            submit(delivering, lessee_key, subject="alarm lessee", priority="alarm"))
        assert [status for status, _ in answers] == [202, 202]

        async def both_arrived() -> bool:
            return (other_relay.first("alarm other") is not None
                    and backlog_relay.first("alarm lessee") is not None)

        await wait_until(both_arrived, timeout=60, what="both alarms at their relays",
                         every=0.01)
        await delivering.close()  # before the relays stop
    other = other_relay.first("alarm other")
    lessee = backlog_relay.first("alarm lessee")
    assert other is not None and lessee is not None
    # How much of the backlog had arrived when each alarm did.
    other_behind = sum(1 for arrival in backlog_relay.arrivals
                       if arrival.subject.startswith("bulk") and arrival.at < other[1].at)
    lessee_behind = lessee[0]
    figures = (f"\nfairness: {BACKLOG} bulk queued; at the alarms' submission {done_at_submit} "
               f"delivered; alarm on another gateway after "
               f"{other[1].at - submitted:.3f} s ({other_behind} of the backlog delivered), "
               f"alarm on the same (leased) gateway after {lessee[1].at - submitted:.3f} s "
               f"({lessee_behind} delivered)")
    print(figures)  # noqa: T201 - the figures, shown with -s
    assert other_behind < BACKLOG // 2
    assert lessee_behind < BACKLOG // 2


async def test_alarm_before_normal_before_bulk_within_a_dealer(make_client, api: Api) -> None:  # type: ignore[no-untyped-def]
    """Queued interleaved with delivery off, then delivered over one connection."""
    queuing = await make_client(deliver=False)
    api.client = queuing
    watcher = Watcher()
    counts = {"alarm": 7, "normal": 8, "bulk": 9}
    with watching_relay(watcher) as port:
        dealer_id, _ = await dealer_on_relay(api, "dealer", port)
        key = await new_key(queuing, dealer_id)
        for n in range(max(counts.values())):
            for priority in ("bulk", "normal", "alarm"):
                if n < counts[priority]:
                    status, body = await submit(queuing, key, subject=f"{priority} {n}",
                                                priority=priority)
                    assert status == 202, body
        delivering = await make_client(deliver=True, delivery_connections_per_gateway=1,
                                       delivery_workers=1)

        async def all_arrived() -> bool:
            return watcher.count() == sum(counts.values())

        await wait_until(all_arrived, timeout=30, what="every message at the relay")
        await delivering.close()
    assert watcher.sessions == 1
    order = [subject.split()[0] for subject in watcher.subjects()]
    assert order == ["alarm"] * 7 + ["normal"] * 8 + ["bulk"] * 9
