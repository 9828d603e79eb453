"""/metrics after real deliveries: the queue's depth by status, the age of the oldest
message waiting, deliveries by outcome and the time to open SMTP sessions, with no
label naming a dealer or a gateway."""

from __future__ import annotations

import re
from typing import Any

from tests.support.api import Api
from tests.support.delivery import (
    dealer_on_relay,
    metric_samples,
    new_key,
    submit,
    wait_for,
    wait_until,
)
from tests.support.net import free_port
from tests.support.smtp import Recorder, aiosmtpd_server


class RefusingSender(Recorder):
    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:
        return "553 5.7.1 sender not allowed"


async def test_queue_and_delivery_metrics(make_client, api: Api) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(deliver=True)  # retries 60 s apart: a deferral stays
    api.client = client
    with aiosmtpd_server() as good, aiosmtpd_server(handler=RefusingSender()) as refusing:
        sent_id, _ = await dealer_on_relay(api, "sent", good.port)
        failed_id, _ = await dealer_on_relay(api, "failed", refusing.port)
        deferred_id, _ = await dealer_on_relay(api, "deferred", free_port())  # refused
        waiting_id, waiting_gateway = await dealer_on_relay(api, "waiting", good.port)
        await api.sql("INSERT INTO gateway_health (gateway_id, failures_in_row, "
                      "backoff_until) VALUES (:id, 2, now() + interval '1 hour')",
                      id=waiting_gateway)  # backed off: its messages stay queued
        outcomes = {sent_id: ("sent",) * 3, failed_id: ("failed",),
                    deferred_id: ("deferred",), waiting_id: ("queued",) * 2}
        for dealer_id, statuses in outcomes.items():
            key = await new_key(client, dealer_id)
            for status in statuses:
                code, accepted = await submit(client, key)
                assert code == 202, accepted
                await wait_for(client, key, accepted["id"], statuses=(status,))
        assert len(good.messages) == 3

        async def settled() -> dict[Any, float] | None:
            found = await metric_samples(client)
            depth = {status: found.get(("navixy_panel_queue_messages",
                                        (("status", status),))) for status in
                     ("queued", "sending", "deferred")}
            return found if depth == {"queued": 2, "sending": 0, "deferred": 1} else None

        found = await wait_until(settled, timeout=20, what="the queue's depth read")
        text = await (await client.get("/metrics")).text()
        await client.close()  # before the relays stop
    deliveries = {dict(labels)["outcome"]: value for (name, labels), value in found.items()
                  if name == "navixy_panel_deliveries_total"}
    assert deliveries == {"sent": 3, "failed": 1, "deferred": 1}
    assert 0 < found[("navixy_panel_queue_oldest_seconds", ())] < 60
    # Sessions opened to the two relays that answered (a lane may open a second).
    opened = found[("navixy_panel_delivery_connect_seconds_count", ())]
    assert 2 <= opened <= 4
    assert found[("navixy_panel_delivery_connect_seconds_bucket", (("le", "+Inf"),))] == opened
    assert found[("navixy_panel_delivery_connect_seconds_sum", ())] > 0
    for (name, labels), _ in found.items():
        if name.startswith(("navixy_panel_queue", "navixy_panel_deliver")):
            assert {label for label, _ in labels} <= {"status", "outcome", "le"}, name
    assert "navixy_panel_queue_messages{" in text
    assert not re.search(r"[{,]\s*(dealer|gateway)\w*=", text)
