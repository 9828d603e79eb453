"""Retention: a finished message's body goes after NAVIXY_PANEL_MESSAGE_RETENTION, its
log row after 30 days; unfinished messages are never touched."""

from __future__ import annotations

from navixy_panel.http import keys
from navixy_panel.usecases import delivery
from tests.support.api import Api
from tests.support.delivery import new_key, read, submit


async def test_bodies_then_rows(make_client, api: Api) -> None:
    client = await make_client(deliver=False, message_retention_seconds=86400)
    api.client = client
    key = await new_key(client, await api.dealer("dealer"))
    ids = [(await submit(client, key, subject=f"m{n}"))[1]["id"] for n in range(4)]
    await api.sql("UPDATE mail_messages SET status = 'sent', finished_at = now() - "
                  "interval '2 days' WHERE id = :id", id=int(ids[0]))
    await api.sql("UPDATE mail_messages SET status = 'sent', finished_at = now() - "
                  "interval '31 days' WHERE id = :id", id=int(ids[1]))
    await api.sql("UPDATE mail_messages SET status = 'sent', finished_at = now() - "
                  "interval '1 hour' WHERE id = :id", id=int(ids[2]))
    # ids[3] stays queued, however old.
    await api.sql("UPDATE mail_messages SET created_at = now() - interval '40 days' "
                  "WHERE id = :id", id=int(ids[3]))
    assert await delivery.sweep(client.app[keys.CONTEXT]) == (2, 1)
    rows = {str(row.id): row.content is not None for row in
            await api.sql("SELECT id, content FROM mail_messages")}
    assert rows == {ids[0]: False, ids[2]: True, ids[3]: True}
    status, body = await read(client, key, ids[0])  # the log row is still readable
    assert status == 200 and body["status"] == "sent"
    assert (await read(client, key, ids[1]))[0] == 404
