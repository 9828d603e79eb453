"""The delivery workers of one instance: a dispatcher and one task per SMTP connection.

The dispatcher asks which gateways have due work (`usecases.delivery.next_gateways`),
takes a free connection slot of each (the cap per gateway holds across instances:
the slots are rows), and starts a lane for it. A lane keeps one SMTP connection to
its gateway and loops: record the last batch's outcomes, claim the next batch,
send it over the same connection (RSET between messages). It gives the slot back
when its gateway has had no work for a moment, when it keeps failing (the
gateway is then backed off as a whole), or after a while anyway so other
gateways get their turn on a busy instance.

Wake-ups: a submission on this instance calls `wake()` directly; other instances'
submissions arrive as NOTIFY on a LISTEN connection to the direct database URL
(never a pooled one); without it, or while it reconnects, the dispatcher polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import asyncpg

from navixy_panel.delivery.metrics import DeliveryMetrics
from navixy_panel.domain.errors import SendFailed
from navixy_panel.mail import destinations, mailer
from navixy_panel.usecases import delivery as uc
from navixy_panel.usecases.context import Context

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # without a wake-up, how often the dispatcher looks
RAMP_SECONDS = 0.05  # how soon it looks again after adding lanes
LINGER_SECONDS = 2.0  # an idle lane keeps its connection this long for the next message
TURN_SECONDS = 30.0  # a busy lane yields its slot after this long, when others wait
CONNECT_SECONDS = 30.0  # time budget of connecting, TLS and login together
DEPTH_SECONDS = 5.0  # how often the queue's depth is read for /metrics
SWEEP_SECONDS = 600.0  # retention


class Deliverer:
    def __init__(self, ctx: Context, metrics: DeliveryMetrics, *,
                 listen_dsn: str | None) -> None:
        self.ctx, self.metrics, self.listen_dsn = ctx, metrics, listen_dsn
        self.holder = f"{uuid.uuid4().hex[:12]}"
        self.workers = ctx.settings.delivery_workers
        self.lanes: dict[asyncio.Task[None], Lane] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        """New work somewhere: every idle lane claims again, and the dispatcher looks
        for gateways without a lane. Each lane has its own event, cleared just before
        it claims, so a wake-up between its claim and its wait is never lost."""
        self._wake.set()
        for lane in self.lanes.values():
            lane.wake.set()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._dispatch(), name="delivery-dispatcher"),
                       asyncio.create_task(self._observe(), name="delivery-metrics")]
        if self.listen_dsn is not None:
            self._tasks.append(asyncio.create_task(self._listen(), name="delivery-listen"))

    async def stop(self) -> None:
        """Lanes finish the message in hand, record what they did and hand the rest back."""
        self._stopping = True
        self.wake()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        lanes = list(self.lanes)
        if lanes:
            await asyncio.wait(lanes, timeout=10.0)
        for task in lanes:
            task.cancel()
        for task in lanes:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _dispatch(self) -> None:
        while not self._stopping:
            self._wake.clear()
            started = 0
            try:
                started = await self._fill()
            except Exception as exc:  # the database may be away; look again later
                log.warning("delivery dispatch skipped: %s", type(exc).__name__)
            # While lanes are being added, look again soon: a backlog gets its gateway's
            # connections within a fraction of a second, not one per poll.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RAMP_SECONDS if started else POLL_SECONDS):
                    await self._wake.wait()

    async def _fill(self) -> int:
        free = self.workers - len(self.lanes)
        if free <= 0:
            return 0
        started = 0
        busy: dict[int, int] = {}
        for running in self.lanes.values():
            busy[running.lane.gateway_id] = busy.get(running.lane.gateway_id, 0) + 1
        cap = self.ctx.settings.delivery_connections_per_gateway
        for gateway_id in await uc.next_gateways(self.ctx, free + len(busy)):
            if free <= 0 or self._stopping:
                break
            # A second connection to a gateway only once its first is busy (it claimed).
            if busy.get(gateway_id, 0) >= cap:
                continue
            taken = await uc.take_slot(self.ctx, gateway_id, self.holder)
            if taken is None:
                continue
            lane = Lane(self, taken)
            task = asyncio.create_task(lane.run(), name=f"lane-{gateway_id}")
            self.lanes[task] = lane
            task.add_done_callback(self._lane_done)
            busy[gateway_id] = busy.get(gateway_id, 0) + 1
            free -= 1
            started += 1
        return started

    def _lane_done(self, task: asyncio.Task[None]) -> None:
        self.lanes.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("delivery lane ended: %s", type(task.exception()).__name__)
        if not self._stopping:
            self._wake.set()  # a slot is free: look for work again

    async def _listen(self) -> None:
        """NOTIFY from other instances' submissions; reconnects after a drop."""
        assert self.listen_dsn is not None
        while not self._stopping:
            connection = None
            try:
                connection = await asyncpg.connect(self.listen_dsn, timeout=5)
                await connection.add_listener(uc.WAKE_CHANNEL, lambda *args: self.wake())
                while not connection.is_closed():
                    await asyncio.sleep(5)
                    await connection.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("delivery LISTEN lost: %s", type(exc).__name__)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            await asyncio.sleep(POLL_SECONDS)

    async def _observe(self) -> None:
        swept_at = 0.0
        while True:
            try:
                counts, oldest = await uc.depth(self.ctx)
                self.metrics.set_depth(counts, oldest)
                if time.monotonic() - swept_at > SWEEP_SECONDS:
                    swept_at = time.monotonic()
                    bodies, rows = await uc.sweep(self.ctx)
                    if bodies or rows:
                        log.info("retention: %s bodies and %s messages deleted", bodies, rows)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("queue depth not read: %s", type(exc).__name__)
            await asyncio.sleep(DEPTH_SECONDS)


class Lane:
    """One SMTP connection to one gateway, fed batch by batch."""

    def __init__(self, owner: Deliverer, lane: uc.Lane) -> None:
        self.owner, self.lane, self.ctx = owner, lane, owner.ctx
        settings = self.ctx.settings
        self.retry: dict[str, float] = {
            "retry_base": settings.delivery_retry_base_seconds,
            "max_age": settings.delivery_max_age_seconds}
        # Each message gets at most a third of the lease, so a batch is extended in time.
        self.message_seconds = settings.delivery_lease_seconds / 3
        self.connection: mailer.Connection | None = None
        self.results: list[dict[str, Any]] = []
        self.unsent: list[int] = []
        self.wake = asyncio.Event()

    async def run(self) -> None:
        started = time.monotonic()
        idle_since: float | None = None
        health: tuple[bool, str | None] | None = None
        try:
            while not self.owner._stopping:
                self.wake.clear()
                batch = await uc.exchange(self.ctx, self.lane, self.results, health=health)
                self.results, health = list(batch.settled), None
                if not batch.kept or batch.gateway is None:
                    return
                if not batch.messages:
                    if batch.settled:
                        continue
                    now = time.monotonic()
                    idle_since = idle_since or now
                    if now - idle_since >= LINGER_SECONDS:
                        return
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.25):
                            await self.wake.wait()
                    continue
                idle_since = None
                health = await self._send(batch)
                if health is not None and not health[0]:
                    return  # the gateway failed to connect: back off, free the slot
                if (time.monotonic() - started > TURN_SECONDS
                        and len(self.owner.lanes) >= self.owner.workers):
                    return
        finally:
            if self.connection is not None:
                await self.connection.close()
            await asyncio.shield(self._leave(health))

    async def _leave(self, health: tuple[bool, str | None] | None) -> None:
        try:
            await uc.leave(self.ctx, self.lane, self.results, self.unsent, health)
        except Exception as exc:  # the leases run out and another instance takes over
            log.warning("delivery lane could not hand back its work: %s", type(exc).__name__)

    async def _send(self, batch: uc.Batch) -> tuple[bool, str | None] | None:
        """Sends the batch; the gateway's health as this batch showed it."""
        gateway = batch.gateway
        assert gateway is not None
        rules = destinations.policy(self.ctx.settings.smtp_allowed_networks)
        loop = asyncio.get_running_loop()
        lease_ends = loop.time() + self.ctx.settings.delivery_lease_seconds
        self.unsent = batch.ids
        health: tuple[bool, str | None] | None = None
        for index, item in enumerate(batch.messages):
            if self.owner._stopping:
                return health
            if lease_ends - loop.time() < self.message_seconds * 1.5:
                await uc.extend(self.ctx, self.lane, self.unsent)
                lease_ends = loop.time() + self.ctx.settings.delivery_lease_seconds
            if self.connection is None or not self.connection.alive:
                try:
                    opened = time.monotonic()
                    self.connection = await mailer.connect(
                        gateway.params, gateway.password, rules=rules,
                        time_budget=min(CONNECT_SECONDS, self.message_seconds),
                        ca_pem=self.ctx.settings.tls_ca_pem)
                    self.owner.metrics.connected(time.monotonic() - opened)
                except SendFailed as failure:
                    self.connection = None
                    for rest in batch.messages[index:]:
                        self._record(uc.failed(rest, failure, gateway, **self.retry))
                    return (False, failure.kind.name.lower())
            try:
                reply = await self.connection.deliver(item.sender, item.recipients, item.data,
                                                      time_budget=self.message_seconds)
            except SendFailed as failure:
                self._record(uc.failed(item, failure, gateway, **self.retry))
                if not self.connection.alive:
                    self.connection = None
                continue
            self._record(uc.delivered(item, reply, gateway, **self.retry))
            health = (True, None)
        return health

    def _record(self, result: dict[str, Any]) -> None:
        self.results.append(result)
        self.unsent = [number for number in self.unsent if number != result["id"]]
        self.owner.metrics.outcome(result["status"])
