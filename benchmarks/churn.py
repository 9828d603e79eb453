"""The write load of workload W3 in `platform_bench.py`, run as a process of its own.

    BENCH_PASSWORD=… python benchmarks/churn.py --url URL --hashes FILE --logins FILE

While it runs (until SIGTERM or SIGINT), open loop, through the service's API:

- `--updates-per-second` (2) `gateways/email/update`: a random session of the hash pool
  (the same 2,000 sessions wrk lists with) reads its list, as the panel does before a
  save, and sends one of its own gateways back whole with a new label;
- `--logouts-per-second` (1) `account/logout` of one of its own live sessions and as many
  `account/auth` logins of one of its logged-out dealers (form body, like the panel).

Logouts use a separate set of dealers (`--logins`, one login per line, not in the pool),
so every hash in wrk's file stays valid for the whole round: a logged-out hash would make
wrk count code-4 answers that are the benchmark's own doing, not the service's. Half of
that set is logged in before the process prints READY; at the end it logs the rest out,
so every round starts from the same state. Then it prints one line
`RESULT {json}` with the count, failures and latency of each kind of call.

Every answer that is not HTTP 200 with "success":true is a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

PANEL = "/v2/panel"
TIMEOUT = aiohttp.ClientTimeout(total=30)
SUFFIX = re.compile(r" #\d+$")


class Stats:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {}
        self.failures: dict[str, list[str]] = {}
        self.failed: dict[str, int] = {}

    def record(self, kind: str, started: float, failure: str | None) -> None:
        self.latencies.setdefault(kind, []).append(time.monotonic() - started)
        if failure is not None:
            self.failed[kind] = self.failed.get(kind, 0) + 1
            samples = self.failures.setdefault(kind, [])
            if len(samples) < 5:
                samples.append(failure)

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for kind, values in self.latencies.items():
            ordered = sorted(values)
            result[kind] = {
                "calls": len(values), "failed": self.failed.get(kind, 0),
                "p50_ms": round(1000 * ordered[len(ordered) // 2], 1),
                "p99_ms": round(1000 * ordered[min(len(ordered) - 1,
                                                   int(0.99 * len(ordered)))], 1),
                "failures": self.failures.get(kind, []),
            }
        return result


class Churn:
    def __init__(self, client: aiohttp.ClientSession, url: str, pool: list[str],
                 logins: list[str], password: str, rng: random.Random) -> None:
        self.client, self.url, self.pool, self.password, self.rng = (
            client, url, pool, password, rng)
        self.live: dict[str, str] = {}  # login -> hash
        self.out = list(logins)
        self.stats = Stats()
        self.edits = 0

    async def call(self, action: str, *, session_hash: str | None = None,
                   data: Any = None, json: Any = None) -> tuple[dict[str, Any] | None, str | None]:
        """The decoded answer, or None and why it failed."""
        headers = {"Authorization": f"NVX {session_hash}"} if session_hash else {}
        try:
            async with self.client.post(f"{self.url}{PANEL}/{action}", headers=headers,
                                        data=data, json=json, timeout=TIMEOUT) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{action}: {exc!r}"
        if response.status != 200 or b'"success":true' not in body:
            return None, f"{action}: HTTP {response.status} {body[:200]!r}"
        answer: dict[str, Any] = orjson.loads(body)
        return answer, None

    async def log_in(self) -> None:
        if not self.out:
            return
        login = self.out.pop(self.rng.randrange(len(self.out)))
        started = time.monotonic()
        answer, failure = await self.call("account/auth",
                                          data={"login": login, "password": self.password})
        self.stats.record("login", started, failure)
        if answer is None:
            self.out.append(login)
        else:
            self.live[login] = answer["hash"]

    async def log_out(self, login: str | None = None) -> None:
        if login is None:
            if not self.live:
                return
            login = self.rng.choice(sorted(self.live))
        session_hash = self.live.pop(login)
        started = time.monotonic()
        _, failure = await self.call("account/logout", session_hash=session_hash)
        self.stats.record("logout", started, failure)
        self.out.append(login)

    async def update(self) -> None:
        """Read the list, then send one own gateway back whole with a new label."""
        session_hash = self.rng.choice(self.pool)
        started = time.monotonic()
        listed, failure = await self.call("gateways/email/list", session_hash=session_hash)
        if listed is None or not listed["own"]:
            self.stats.record("update", started, failure or "no own gateway in the list")
            return
        gateway = dict(self.rng.choice(listed["own"]))
        self.edits += 1
        gateway["label"] = f"{SUFFIX.sub('', gateway['label'])[:90]} #{self.edits}"
        _, failure = await self.call("gateways/email/update", session_hash=session_hash,
                                     json={"gateway": gateway})
        self.stats.record("update", started, failure)


async def open_loop(rate: float, make: Any, stop: asyncio.Event,
                    pending: set[asyncio.Task[None]]) -> None:
    """`rate` calls per second, each started on time whether or not the last one answered."""
    if rate <= 0:
        return
    interval, next_at = 1 / rate, time.monotonic()
    while not stop.is_set():
        task = asyncio.create_task(make())
        pending.add(task)
        task.add_done_callback(pending.discard)
        next_at += interval
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))
        except TimeoutError:
            pass


async def run(args: argparse.Namespace) -> dict[str, Any]:
    pool = [line for line in Path(args.hashes).read_text().split() if line]
    logins = [line for line in Path(args.logins).read_text().split() if line]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as client:
        churn = Churn(client, args.url, pool, logins, os.environ["BENCH_PASSWORD"],
                      random.Random(args.seed))
        for _ in range(len(logins) // 2):
            await churn.log_in()
        churn.stats = Stats()  # the warm-up logins are not part of the round
        print("READY", flush=True)
        started = time.monotonic()
        pending: set[asyncio.Task[None]] = set()

        async def logout_then_login() -> None:
            await asyncio.gather(churn.log_out(), churn.log_in())

        await asyncio.gather(open_loop(args.updates_per_second, churn.update, stop, pending),
                             open_loop(args.logouts_per_second, logout_then_login, stop, pending))
        elapsed = time.monotonic() - started
        if pending:
            await asyncio.wait(pending, timeout=60)
        result = {"seconds": round(elapsed, 1), **churn.stats.summary()}
        for login in list(churn.live):  # every round starts with the same live set
            await churn.log_out(login)
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the service, http://127.0.0.1:PORT")
    parser.add_argument("--hashes", required=True, help="file of the pool's session hashes")
    parser.add_argument("--logins", required=True, help="file of the churn dealers' logins")
    parser.add_argument("--updates-per-second", type=float, default=2.0)
    parser.add_argument("--logouts-per-second", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    sys.stdout.write("RESULT " + orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
