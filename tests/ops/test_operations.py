"""Operations: Prometheus metrics, request ids, JSON-lines logs."""

from __future__ import annotations

import io
import json
import logging

from navixy_panel import logs
from navixy_panel.settings import Settings
from tests.support.api import Api
from tests.support.smtp import smtp_server


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus' text format."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}}") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{wanted}}} not in metrics")


async def test_metrics_count_requests_codes_latency_pool_and_smtp(api: Api) -> None:
    await api.dealer("d1")
    h = await api.login("d1")
    await api.ok("gateways/email/list", hash=h)
    await api.ok("gateways/email/list", hash=h)
    await api.error("gateways/email/list", 4, 400, hash="0" * 32)
    await api.error("nothing/here", 111, 400)
    with smtp_server() as server:
        gateway = {"label": "g", "provider": "smtp",
                   "params": {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": server.port,
                              "default_from_address": "a@d1.example"}}
        created = await api.ok("gateways/email/create", hash=h, json={"gateway": gateway})
        await api.ok("gateways/email/send_email", hash=h,
                     json={"to": "x@example.org", "gateway_id": created["id"]})
    await api.call("gateways/email/send_email", hash=h,
                   json={"to": "x@example.org", "gateway_id": created["id"]})  # server gone
    response = await api.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    text = await response.text()
    list_ok = {"face": "navixy", "action": "gateways/email/list", "code": "0"}
    assert sample(text, "navixy_panel_requests_total", **list_ok) == 2
    assert sample(text, "navixy_panel_requests_total", face="navixy",
                  action="gateways/email/list", code="4") == 1
    assert sample(text, "navixy_panel_requests_total", face="navixy", action="unknown",
                  code="111") == 1
    assert sample(text, "navixy_panel_request_seconds_count", face="navixy",
                  action="gateways/email/list") == 3
    assert sample(text, "navixy_panel_smtp_sends_total", result="sent") == 1
    assert sample(text, "navixy_panel_smtp_sends_total", result="failed") == 1
    assert sample(text, "navixy_panel_db_pool_size") == 10
    assert sample(text, "navixy_panel_db_pool_checked_out") == 0


async def test_request_id_is_echoed_or_made(api: Api) -> None:
    response = await api.client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    response = await api.client.get("/health", headers={"X-Request-Id": "bad id!"})
    made = response.headers["X-Request-Id"]
    assert len(made) == 32 and made != "bad id!"


async def test_json_log_lines_carry_the_request_id(api: Api) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure(Settings(log_format="json"))
    root.handlers[0].stream = stream  # type: ignore[attr-defined]
    try:
        await api.client.get("/v2/panel/account/get_permissions?hash=" + "a" * 32,
                             headers={"X-Request-Id": "req-42"})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "aiohttp.access"]
    assert access and access[-1]["request_id"] == "req-42"
    assert access[-1]["http"]["status"] == 400
    assert access[-1]["http"]["target"] == "/v2/panel/account/get_permissions?hash=***"
    assert "a" * 32 not in stream.getvalue()
