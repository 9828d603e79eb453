"""Request ids in every log line, and Prometheus metrics at /metrics.

Metrics live in a registry per application (not prometheus-client's global
one), so several apps in one process (tests, workers) never collide.
"""

from __future__ import annotations

import bisect
import contextvars
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from navixy_panel.http.plumbing import ACTION, FACE, RESULT_CODE

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (`-` outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


# Ids made here: a random per-process prefix and a counter. Unique across
# processes and restarts in practice, and far cheaper than uuid4 per request.
_PREFIX = secrets.token_hex(8)
_counter = itertools.count(1)


def assign_request_id(request: web.Request) -> str:
    """Takes a sane X-Request-Id from the proxy, or makes one; visible to every log line."""
    given = request.headers.get("X-Request-Id", "")
    value = given if given and _GIVEN_ID.fullmatch(given) else f"{_PREFIX}{next(_counter):016x}"
    request_id.set(value)
    return value


LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)


class Metrics:
    """Requests by face, action and result code, their latency, and test sends.

    Hand-rolled accumulators exported by a collector at scrape time, rather than
    prometheus-client's Counter and Histogram: those take a lock per increment,
    which cost ~4 µs of the cached list's budget. Every update here happens on
    the event loop's one thread, as does the scrape, so plain integers are exact."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests: dict[tuple[str, str, str], int] = {}
        # (face, action) → [count, sum of seconds, per-bucket counts (last: +Inf)]
        self._latency: dict[tuple[str, str], list[Any]] = {}
        self._sends: dict[str, int] = {}
        self.registry.register(self)  # a collector: it has collect()

    def observe(self, face: str, action: str, code: str, seconds: float) -> None:
        key = (face, action, code)
        self._requests[key] = self._requests.get(key, 0) + 1
        series = self._latency.get((face, action))
        if series is None:
            series = self._latency[(face, action)] = [0, 0.0, [0] * (len(LATENCY_BUCKETS) + 1)]
        series[0] += 1
        series[1] += seconds
        series[2][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def count_send(self, result: str) -> None:
        self._sends[result] = self._sends.get(result, 0) + 1

    def collect(self) -> Iterator[Any]:
        requests = CounterMetricFamily(
            "navixy_panel_requests", "Requests by face, action and result code (Navixy "
            "code, or the HTTP status elsewhere)", labels=["face", "action", "code"])
        for labels, count in self._requests.items():
            requests.add_metric(list(labels), count)
        yield requests
        latency = HistogramMetricFamily("navixy_panel_request_seconds", "Request latency",
                                        labels=["face", "action"])
        for (face, action), (_count, total, buckets) in self._latency.items():
            cumulative = list(itertools.accumulate(buckets))
            bounds = [str(b) for b in LATENCY_BUCKETS] + ["+Inf"]
            latency.add_metric([face, action], list(zip(bounds, cumulative, strict=True)), total)
        yield latency
        sends = CounterMetricFamily("navixy_panel_smtp_sends", "Test messages by result",
                                    labels=["result"])
        for result, count in self._sends.items():
            sends.add_metric([result], count)
        yield sends


class PoolCollector:
    """Database pool use, read when scraped."""

    def __init__(self, engine: Callable[[], AsyncEngine | None]) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        engine = self.engine()
        if engine is None:
            return
        pool = engine.sync_engine.pool
        assert isinstance(pool, QueuePool)  # what create_async_engine gives us
        for name, value in (("checked_out", pool.checkedout()), ("size", pool.size()),
                            ("overflow", pool.overflow())):
            yield GaugeMetricFamily(f"navixy_panel_db_pool_{name}",
                                    f"Database pool: connections {name.replace('_', ' ')}",
                                    value=value)


_PLAIN_PATHS = frozenset({"/health", "/ready", "/metrics", "/openapi.json", "/docs", "/",
                          "/readme"})


def observe(request: web.Request, response: web.StreamResponse, started: float,
            metrics: Metrics) -> None:
    """Labels come from the routing's tags; untagged paths are `other`."""
    face = request.get(FACE)
    if face is None:
        face_name = "other"
        action = request.path if request.path in _PLAIN_PATHS else "unknown"
    else:
        face_name, action = face.name, request.get(ACTION, "unknown")
    code = request.get(RESULT_CODE)
    if code is None:
        code = 0 if response.status == 200 and face_name == "navixy" else response.status
    metrics.observe(face_name, action, str(code), time.perf_counter() - started)


def metrics_handler(metrics: Metrics) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handler
