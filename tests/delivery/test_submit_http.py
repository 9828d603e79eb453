"""`POST /mail/v1/messages` and `GET /mail/v1/messages/{id}`: the answers a client gets,
and that a refused request queues nothing."""

from __future__ import annotations

import asyncio
import base64

import pytest

from tests.support.api import Api
from tests.support.delivery import MESSAGES, new_key, read, submit


@pytest.fixture
async def mail(make_client, api: Api):  # type: ignore[no-untyped-def]
    """A client without delivery workers (messages stay queued) and a dealer tree:
    root → dealer → sub; `other` is root's other child."""
    client = await make_client(deliver=False)
    api.client = client
    ids = {"root": await api.dealer("root")}
    ids["dealer"] = await api.dealer("dealer", parent="root")
    ids["sub"] = await api.dealer("sub", parent="dealer")
    ids["other"] = await api.dealer("other", parent="root")
    return client, api, ids


async def queued(api: Api) -> int:
    return (await api.sql("SELECT count(*) AS n FROM mail_messages"))[0].n


async def test_accepted_after_commit_and_readable(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids = mail
    key = await new_key(client, ids["dealer"])
    status, body = await submit(client, key, priority="alarm")
    assert status == 202
    assert body == {"id": body["id"], "status": "queued"}
    status, found = await read(client, key, body["id"])
    assert status == 200
    assert found["status"] == "queued" and found["priority"] == "alarm"
    assert found["dealer_id"] == ids["dealer"] and found["reason"] is None
    assert found["to"] == ["customer@example.com"] and found["attempts"] == []
    assert found["recipients"] == [{"address": "customer@example.com", "status": "pending",
                                    "reply_code": None}]


async def test_for_a_sub_dealer_by_login_and_by_id(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids = mail
    key = await new_key(client, ids["root"])
    for dealer in ("sub", ids["sub"]):
        status, body = await submit(client, key, dealer=dealer)
        assert status == 202, body
    rows = await api.sql("SELECT dealer_id FROM mail_messages")
    assert [row.dealer_id for row in rows] == [ids["sub"], ids["sub"]]


@pytest.mark.parametrize("dealer", ["other", "root", "nobody", 987654])
async def test_outside_the_subtree_is_one_answer(mail, dealer) -> None:  # type: ignore[no-untyped-def]
    client, api, ids = mail
    key = await new_key(client, ids["dealer"])
    status, body = await submit(client, key, dealer=dealer)
    assert (status, body) == (403, {"error": {
        "code": "forbidden", "message": "The key may not submit for this dealer."}})
    assert await queued(api) == 0


async def test_keys_refused(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids = mail
    revoked = await new_key(client, ids["dealer"])
    await api.sql("UPDATE submission_keys SET revoked_at = now()")
    blocked = await new_key(client, ids["other"])
    await api.sql("UPDATE dealers SET block_status = 'BLOCK_LOGIN' WHERE id = :id",
                  id=ids["other"])
    refusal = {"error": {"code": "unauthorized", "message":
                         "A valid submission key is required (Authorization: Bearer <key>)."}}
    for key in (revoked, blocked, "npk_" + "x" * 43, ""):
        status, body = await submit(client, key)
        assert (status, body) == (401, refusal), key
    response = await client.post(MESSAGES, json={"to": ["a@example.com"], "text": "x"})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="navixy-panel"'
    assert await queued(api) == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"to": []}, "to"),
    ({"to": ["not an address"]}, "to.0"),
    ({"to": [f"r{i}@example.com" for i in range(51)]}, "to"),
    ({"text": None, "html": None}, "text"),
    ({"priority": "urgent"}, "priority"),
    ({"subject": "two\r\nlines"}, "subject"),
    ({"idempotency_key": "k" * 101}, "idempotency_key"),
    ({"dealer": True}, "dealer"),
    ({"attachments": [{"filename": "a.pdf", "content_type": "application/pdf",
                       "content_base64": "not base64!"}]}, "attachments.0.content_base64"),
    ({"bcc": ["x@example.com"]}, "bcc"),
])
async def test_bad_input_names_the_field(mail, body, field) -> None:  # type: ignore[no-untyped-def]
    client, api, ids = mail
    key = await new_key(client, ids["dealer"])
    status, answer = await submit(client, key, **body)
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid"
    assert answer["error"]["field"] == field
    assert await queued(api) == 0


async def test_bad_body_with_a_bad_key_is_401(mail) -> None:  # type: ignore[no-untyped-def]
    client, _api, _ids = mail
    status, body = await submit(client, "npk_wrong", to=[])
    assert status == 401 and body["error"]["code"] == "unauthorized"


async def test_not_json(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids = mail
    key = await new_key(client, ids["dealer"])
    response = await client.post(MESSAGES, data=b"[1, 2]",
                                 headers={"Authorization": f"Bearer {key}"})
    assert response.status == 400
    assert await response.json() == {"error": {"code": "invalid",
                                               "message": "The body must be a JSON object."}}


async def test_over_the_size_limit(make_client, api: Api) -> None:
    client = await make_client(deliver=False, message_max_bytes=2048)
    api.client = client
    dealer_id = await api.dealer("dealer")
    key = await new_key(client, dealer_id)
    attachment = {"filename": "big.bin", "content_type": "application/octet-stream",
                  "content_base64": base64.b64encode(b"x" * 4096).decode()}
    status, body = await submit(client, key, attachments=[attachment])
    assert (status, body) == (413, {"error": {
        "code": "too_large", "message": "The message is larger than 2048 bytes (decoded)."}})
    # A body larger than any message could be is refused before it is read.
    status, body = await submit(client, key, text="y" * 100_000)
    assert status == 413
    assert (await api.sql("SELECT count(*) AS n FROM mail_messages"))[0].n == 0


async def test_quota(make_client, api: Api) -> None:
    client = await make_client(deliver=False, dealer_queue_quota=3)
    api.client = client
    dealer_id = await api.dealer("dealer")
    key = await new_key(client, dealer_id)
    answers = await asyncio.gather(*(submit(client, key) for _ in range(8)))
    assert sorted(status for status, _ in answers) == [202] * 3 + [429] * 5
    refused = next(body for status, body in answers if status == 429)
    assert refused == {"error": {"code": "quota_exceeded", "message":
                                 "The dealer's queue is full: wait for messages to be sent."}}
    assert (await api.sql("SELECT count(*) AS n FROM mail_messages"))[0].n == 3


async def test_key_rate(make_client, api: Api) -> None:
    client = await make_client(deliver=False, key_rate_per_second=2)
    api.client = client
    key = await new_key(client, await api.dealer("dealer"))
    statuses = [(await submit(client, key))[0] for _ in range(4)]
    assert statuses[:2] == [202, 202] and 429 in statuses[2:]
    status, body = await submit(client, key)
    assert body["error"]["code"] == "rate_limited"


async def test_idempotency_under_concurrency(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids = mail
    key = await new_key(client, ids["dealer"])
    answers = await asyncio.gather(*(submit(client, key, idempotency_key="alarm-42")
                                     for _ in range(20)))
    assert len({body["id"] for _, body in answers}) == 1
    assert [status for status, _ in answers] == [202] * 20
    assert await queued(api) == 1
    # The same key for another dealer is another message.
    status, _ = await submit(client, await new_key(client, ids["other"]),
                             idempotency_key="alarm-42")
    assert status == 202
    # After 24 hours the key names a new message.
    await api.sql("UPDATE mail_messages SET created_at = now() - interval '25 hours'")
    status, body = await submit(client, key, idempotency_key="alarm-42")
    assert status == 202 and body["id"] != answers[0][1]["id"]


async def test_read_is_limited_to_the_subtree(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids = mail
    sub_key = await new_key(client, ids["sub"])
    _, body = await submit(client, sub_key)
    root_key = await new_key(client, ids["root"])
    other_key = await new_key(client, ids["other"])
    assert (await read(client, root_key, body["id"]))[0] == 200
    missing = {"error": {"code": "not_found", "message": "No such message."}}
    for key, message_id in ((other_key, body["id"]), (sub_key, "999999"), (sub_key, "x1")):
        assert await read(client, key, message_id) == (404, missing)
