"""SMTP submission figures for /metrics: sessions, AUTH results, and messages accepted
or refused by reason. No label per dealer, key or client address (thousands of
series); plain counters read at scrape time, as `delivery/metrics.py` keeps its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

ACCEPTED = "accepted"


class SubmissionMetrics:
    def __init__(self) -> None:
        self.sessions = 0
        self.open = 0
        self._auth: dict[str, int] = {}
        self._messages: dict[str, int] = {}

    def session_opened(self) -> None:
        self.sessions += 1
        self.open += 1

    def session_closed(self) -> None:
        self.open -= 1

    def auth(self, result: str) -> None:
        """ok, failed or rate_limited."""
        self._auth[result] = self._auth.get(result, 0) + 1

    def message(self, result: str) -> None:
        """`accepted` or the reason of a refusal."""
        self._messages[result] = self._messages.get(result, 0) + 1

    def collect(self) -> Iterator[Any]:
        yield CounterMetricFamily("navixy_panel_smtp_sessions",
                                  "SMTP submission sessions opened", value=self.sessions)
        yield GaugeMetricFamily("navixy_panel_smtp_sessions_open",
                                "SMTP submission sessions open now", value=self.open)
        auth = CounterMetricFamily("navixy_panel_smtp_auth",
                                   "SMTP AUTH attempts by result (ok, failed, rate_limited)",
                                   labels=["result"])
        for result, count in sorted(self._auth.items()):
            auth.add_metric([result], count)
        yield auth
        messages = CounterMetricFamily(
            "navixy_panel_smtp_messages",
            "Messages submitted over SMTP: accepted, or refused with the reason",
            labels=["result"])
        for result, count in sorted(self._messages.items()):
            messages.add_metric([result], count)
        yield messages
