"""Queue and delivery figures for /metrics, without a label per dealer or gateway
(thousands of dealers would make thousands of series). Plain accumulators read at
scrape time, as `http.observability.Metrics` does, for the same reason."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

SESSION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class DeliveryMetrics:
    def __init__(self) -> None:
        self._outcomes: dict[str, int] = {}
        self._depth: dict[str, int] = {}
        self._oldest = 0.0
        self._connects, self._connect_seconds = 0, 0.0
        self._connect_buckets = [0] * (len(SESSION_BUCKETS) + 1)

    def outcome(self, status: str) -> None:
        self._outcomes[status] = self._outcomes.get(status, 0) + 1

    def connected(self, seconds: float) -> None:
        self._connects += 1
        self._connect_seconds += seconds
        self._connect_buckets[bisect.bisect_left(SESSION_BUCKETS, seconds)] += 1

    def set_depth(self, counts: dict[str, int], oldest_seconds: float) -> None:
        self._depth, self._oldest = dict(counts), oldest_seconds

    def collect(self) -> Iterator[Any]:
        depth = GaugeMetricFamily("navixy_panel_queue_messages",
                                  "Unfinished messages by status", labels=["status"])
        for status, count in sorted(self._depth.items()):
            depth.add_metric([status], count)
        yield depth
        yield GaugeMetricFamily("navixy_panel_queue_oldest_seconds",
                                "Age of the oldest message waiting to be sent",
                                value=self._oldest)
        outcomes = CounterMetricFamily("navixy_panel_deliveries",
                                       "Delivery attempts by outcome (the status they left)",
                                       labels=["outcome"])
        for status, count in sorted(self._outcomes.items()):
            outcomes.add_metric([status], count)
        yield outcomes
        session = HistogramMetricFamily("navixy_panel_delivery_connect_seconds",
                                        "Time to open an SMTP session (connect, TLS, login)")
        bounds = [str(b) for b in SESSION_BUCKETS] + ["+Inf"]
        session.add_metric([], list(zip(bounds, itertools.accumulate(self._connect_buckets),
                                        strict=True)), self._connect_seconds)
        yield session
