"""Which gateway a message goes through, decided when it is delivered, and what a
dealer then sees of it (the leased-gateway rule), through both the submission API and
the Navixy actions."""

from __future__ import annotations

import asyncio

from tests.support.api import Api
from tests.support.delivery import dealer_on_relay, new_key, read, submit, wait_for
from tests.support.smtp import aiosmtpd_server, smtp_server


async def test_leased_gateway_shows_code_and_kind_only(deliverer) -> None:  # type: ignore[no-untyped-def]
    client, api = deliverer
    with smtp_server() as relay:
        parent_id, gateway_id = await dealer_on_relay(api, "parent", relay.port)
        await api.sql("UPDATE email_gateways SET leasable = true")
        child_id = await api.dealer("child", parent="parent")
        await api.bind(child_id, gateway_id)
        await api.sql("UPDATE dealers SET email_from = 'child@child.example' WHERE id = :id",
                      id=child_id)
        child_key = await new_key(client, child_id)
        _, accepted = await submit(client, child_key)
        found = await wait_for(client, child_key, accepted["id"])
        assert relay.messages[0].mail_from == "child@child.example"
    (attempt,) = found["attempts"]
    assert attempt == {"time": attempt["time"], "gateway_id": gateway_id, "stage": "data",
                       "reply_code": 250, "reply_text": None,
                       "duration_ms": attempt["duration_ms"], "kind": None}
    # The parent owns the relay: it reads the reply.
    parent_key = await new_key(client, parent_id)
    _, seen = await read(client, parent_key, accepted["id"])
    assert seen["attempts"][0]["reply_text"] == "2.0.0 OK queued as test-1"
    # Over the Navixy face too.
    child_hash = await api.login("child")
    value = (await api.ok("gateways/email/messages/read", hash=child_hash,
                          json={"message_id": accepted["id"]}))["value"]
    assert value["attempts"][0]["reply_text"] is None
    listed = await api.ok("gateways/email/messages/list", hash=child_hash)
    assert listed["count"] == 1
    assert listed["list"][0]["last_reply"] == {"code": 250, "text": None}


async def test_no_gateway_bound(deliverer) -> None:  # type: ignore[no-untyped-def]
    client, api = deliverer
    dealer_id = await api.dealer("dealer")
    key = await new_key(client, dealer_id)
    _, accepted = await submit(client, key)
    found = await wait_for(client, key, accepted["id"])
    assert (found["status"], found["reason"]) == ("failed", "no_gateway")
    assert found["recipients"][0]["status"] == "failed"


async def test_no_sender(deliverer) -> None:  # type: ignore[no-untyped-def]
    client, api = deliverer
    with smtp_server() as relay:
        dealer_id, _ = await dealer_on_relay(api, "dealer", relay.port, email_from=None)
        key = await new_key(client, dealer_id)
        _, accepted = await submit(client, key)
        found = await wait_for(client, key, accepted["id"])
        assert relay.messages == []
    assert (found["status"], found["reason"]) == ("failed", "no_sender")


async def test_rebound_between_submit_and_delivery(make_client, api: Api) -> None:
    client = await make_client(deliver=False)
    api.client = client
    with smtp_server() as first, smtp_server() as second:
        dealer_id, _ = await dealer_on_relay(api, "dealer", first.port)
        key = await new_key(client, dealer_id)
        _, accepted = await submit(client, key)
        other = await api.gateway(dealer_id, "second", **{"mail.smtp.host": "127.0.0.1",
                                                          "mail.smtp.port": second.port})
        await api.bind(dealer_id, other)
        delivering = await make_client(deliver=True)
        found = await wait_for(delivering, key, accepted["id"])
        assert found["status"] == "sent" and found["gateway_id"] == other
        assert first.messages == [] and len(second.messages) == 1


async def test_gateway_deleted_meanwhile(make_client, api: Api) -> None:
    client = await make_client(deliver=False)
    api.client = client
    dealer_id, gateway_id = await dealer_on_relay(api, "dealer", 1)
    key = await new_key(client, dealer_id)
    _, accepted = await submit(client, key)
    hash_ = await api.login("dealer")
    await api.ok("gateways/email/delete", hash=hash_, json={"gateway_id": gateway_id})
    delivering = await make_client(deliver=True)
    found = await wait_for(delivering, key, accepted["id"])
    assert (found["status"], found["reason"]) == ("failed", "no_gateway")


async def test_blocked_dealer_messages_fail(make_client, api: Api) -> None:
    client = await make_client(deliver=False)
    api.client = client
    with smtp_server() as relay:
        dealer_id, _ = await dealer_on_relay(api, "dealer", relay.port)
        child_id = await api.dealer("child", parent="dealer")
        await api.bind(child_id, (await api.sql("SELECT id FROM email_gateways"))[0].id)
        key = await new_key(client, dealer_id)
        _, accepted = await submit(client, key, dealer="child")
        await api.sql("UPDATE dealers SET block_status = 'BLOCK_LOGIN' WHERE id = :id",
                      id=child_id)
        delivering = await make_client(deliver=True)
        found = await wait_for(delivering, key, accepted["id"])
        assert relay.messages == []
    assert (found["status"], found["reason"]) == ("failed", "dealer_blocked")


async def test_connections_are_reused(deliverer) -> None:  # type: ignore[no-untyped-def]
    client, api = deliverer
    sessions: list[int] = []

    class Counting:
        messages: list[object] = []

        async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
            sessions.append(id(session))
            session.host_name = hostname  # what aiosmtpd does without this hook
            return responses

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            self.messages.append(envelope)
            return "250 OK"

    handler = Counting()
    with aiosmtpd_server(handler=handler) as relay:
        dealer_id, _ = await dealer_on_relay(api, "dealer", relay.port)
        key = await new_key(client, dealer_id)
        accepted = await asyncio.gather(*(submit(client, key) for _ in range(30)))
        for _, body in accepted:
            assert (await wait_for(client, key, body["id"]))["status"] == "sent"
    assert len(handler.messages) == 30
    assert len(set(sessions)) <= 4  # NAVIXY_PANEL_DELIVERY_CONNECTIONS_PER_GATEWAY


async def test_messages_list_and_health_over_navixy(deliverer) -> None:  # type: ignore[no-untyped-def]
    client, api = deliverer
    with smtp_server() as relay:
        dealer_id, gateway_id = await dealer_on_relay(api, "dealer", relay.port)
        child_id = await api.dealer("child", parent="dealer")
        key = await new_key(client, dealer_id)
        ids = [(await submit(client, key, subject=f"m{i}"))[1]["id"] for i in range(3)]
        for message_id in ids:
            await wait_for(client, key, message_id)
    hash_ = await api.login("dealer")
    listed = await api.ok("gateways/email/messages/list", hash=hash_, json={"limit": 2})
    assert listed["count"] == 3
    assert [entry["id"] for entry in listed["list"]] == ids[::-1][:2]
    assert listed["list"][0]["status"] == "sent" and listed["list"][0]["attempts"] == 1
    filtered = await api.ok("gateways/email/messages/list", hash=hash_,
                            json={"status": "failed"})
    assert filtered == {"success": True, "list": [], "count": 0}
    child = await api.ok("gateways/email/messages/list", hash=hash_,
                         json={"dealer_id": child_id})
    assert child["count"] == 0
    health = await api.ok("gateways/email/health", hash=hash_)
    assert health["list"] == [{"id": gateway_id, "state": "ok",
                               "last_success": health["list"][0]["last_success"],
                               "last_failure": None, "last_failure_kind": None, "queued": 0}]
    # A sub-dealer may not read its parent's messages: the same answer as a missing one.
    child_hash = await api.login("child")
    await api.error("gateways/email/messages/read", 201, 400, hash=child_hash,
                    json={"message_id": ids[0]})
    await api.error("gateways/email/messages/read", 201, 400, hash=child_hash,
                    json={"message_id": "999999"})
    await api.error("gateways/email/messages/list", 201, 400, hash=child_hash,
                    json={"dealer_id": dealer_id})
