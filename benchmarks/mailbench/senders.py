"""What puts messages in: smtp-source (rows L and P1), the naive sender (N2, a
process of its own: naive.py) and the HTTP submitter of navixy-panel's rows."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from platform_bench import BenchError, Processes, tail

from mailbench.sinks import smtp_tool

HERE = Path(__file__).resolve().parent
SIZE = 1024  # bytes of body per message, every row
TEXT = ("Vehicle 4711 left the geofence 'Depot' at 12:00:00 UTC; speed 54 km/h. "
        * 15)[:SIZE]


def split(total: int, parts: int) -> list[int]:
    """`total` in `parts` shares differing by at most one."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def smtp_source(processes: Processes, env: dict[str, str], name: str,
                targets: list[tuple[int, str]], messages: int, sessions: int,
                timeout: float) -> float:
    """smtp-source to each (port, recipient domain) in `targets`, the sessions and
    messages split between them (one process each, `-d`: sessions are kept for the next
    message, as a platform keeps its connection to its relay); returns the seconds until
    the last of them finished, i.e. until the last message was acknowledged."""
    source = smtp_tool("smtp-source")
    started = time.monotonic()
    running = []
    for index, ((port, domain), count, parallel) in enumerate(zip(
            targets, split(messages, len(targets)), split(sessions, len(targets)),
            strict=True)):
        if count == 0 or parallel == 0:
            continue
        command = [source, "-4", "-d", "-s", str(parallel), "-m", str(count), "-l", str(SIZE),
                   "-M", "client.bench.test", "-f", "sender@client.bench.test",
                   "-t", f"customer@{domain}", f"127.0.0.1:{port}"]
        running.append((f"{name}-{index}", processes.start(f"{name}-{index}", command, env)))
    for label, process in running:
        try:
            process.wait(max(1.0, started + timeout - time.monotonic()))
        except Exception:
            raise BenchError(f"{label} did not finish within {timeout:.0f} s") from None
        if process.returncode != 0:
            raise BenchError(f"{label} exited with status {process.returncode}:\n"
                             f"{tail(processes.log(label))}")
    seconds = time.monotonic() - started
    for label, process in running:
        processes.stop(process, label)
    return seconds


def naive(processes: Processes, env: dict[str, str], messages: int, sessions: int,
          ports: list[int], timeout: float) -> float:
    """Row N2's sender to its end; the seconds it took to send everything."""
    process = processes.start(
        "naive", [sys.executable, str(HERE / "naive.py"), str(messages), str(sessions),
                  *map(str, ports)], env, stdout=-1)
    try:
        out, _ = process.communicate(timeout=timeout)
    except Exception:
        raise BenchError(f"the naive sender did not finish within {timeout:.0f} s") from None
    finally:
        processes.stop(process, "naive")
    if process.returncode != 0 or not out:
        raise BenchError(f"the naive sender failed:\n{tail(processes.log('naive'))}")
    seconds, failed = out.split()
    if int(failed):
        raise BenchError(f"the naive sender saw {failed} failed sends")
    return float(seconds)


# --------------------------------------------------------------------------- HTTP


@dataclass(frozen=True, slots=True)
class Planned:
    token: str
    dealer_id: int
    priority: str = "normal"


@dataclass
class Submitted:
    acknowledged: dict[str, float] = field(default_factory=dict)  # token -> time of the 202
    message_ids: dict[str, str] = field(default_factory=dict)  # token -> the service's id
    refused: Counter[str] = field(default_factory=Counter)  # "HTTP 429", "ClientOSError", …
    first_refusal: str = ""
    started: float = 0.0
    finished: float = 0.0
    not_sent: int = 0  # left out after `stop` was set

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def body(planned: Planned, n: int) -> bytes:
    return orjson.dumps({"dealer": planned.dealer_id, "to": [f"customer{n}@example.com"],
                         "subject": f"nvx-bench {planned.token}", "text": TEXT,
                         "priority": planned.priority})


async def submit(url: str, key: str, plan: Iterable[Planned], sessions: int, *,
                 rate: float | None = None, stop: asyncio.Event | None = None,
                 on_ack: Callable[[str], None] | None = None) -> Submitted:
    """POSTs each planned message over `sessions` keep-alive connections, as fast as the
    service answers, or paced at `rate` per second (an open loop: the schedule does not
    wait for answers). A 202 is an acknowledgement; anything else is counted by kind.
    Stops taking new messages once `stop` is set."""
    result = Submitted()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    endpoint = url + "/mail/v1/messages"
    items = list(plan)
    connector = aiohttp.TCPConnector(limit=sessions, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)

    async def one(session: aiohttp.ClientSession, n: int, planned: Planned) -> None:
        if stop is not None and stop.is_set():
            result.not_sent += 1
            return
        try:
            async with session.post(endpoint, data=body(planned, n), headers=headers) as answer:
                text = await answer.read()
                if answer.status == 202:
                    result.acknowledged[planned.token] = time.monotonic()
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        result.message_ids[planned.token] = str(orjson.loads(text)["id"])
                    if on_ack is not None:
                        on_ack(planned.token)
                    return
                kind = f"HTTP {answer.status}"
                detail = text[:300].decode(errors="replace")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            kind, detail = type(exc).__name__, str(exc)[:300]
        result.refused[kind] += 1
        if not result.first_refusal:
            result.first_refusal = f"{kind}: {detail}"

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        result.started = time.monotonic()
        if rate is None:
            queue = iter(enumerate(items))

            async def worker() -> None:
                for n, planned in queue:
                    await one(session, n, planned)

            await asyncio.gather(*(worker() for _ in range(sessions)))
        else:
            tasks = []
            for n, planned in enumerate(items):
                delay = result.started + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(session, n, planned)))
            await asyncio.gather(*tasks)
        result.finished = time.monotonic()
    return result
