"""Delivery tests' shared steps: a dealer with a gateway on a test relay and a key,
submitting over HTTP as a client does, and waiting for an outcome."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from navixy_panel.http import keys
from navixy_panel.security.secret_box import SecretBox
from navixy_panel.usecases import keys as key_usecases
from tests.support.api import Api

MESSAGES = "/mail/v1/messages"
FINISHED = ("sent", "partly_sent", "failed", "expired")


async def new_key(client: TestClient, dealer_id: int, label: str = "test") -> str:
    created = await key_usecases.create_key(client.app[keys.CONTEXT], dealer_id, label)
    return created.key


async def dealer_on_relay(api: Api, login: str, port: int, *, parent: str | None = None,
                          email_from: str | None = "Fleet <alerts@dealer.example>",
                          box: SecretBox | None = None, **params: Any) -> tuple[int, int]:
    """A dealer bound to its own gateway at 127.0.0.1:`port`: (dealer id, gateway id).
    `box` encrypts a password given in the params."""
    dealer_id = await api.dealer(login, parent=parent)
    gateway_id = await api.gateway(dealer_id, f"{login} relay", box=box, **{
        "mail.smtp.host": "127.0.0.1", "mail.smtp.port": port,
        "mail.smtp.connectiontimeout": 2000, "mail.smtp.timeout": 2000, **params})
    await api.bind(dealer_id, gateway_id)
    if email_from is not None:
        await api.sql("UPDATE dealers SET email_from = :sender WHERE id = :id",
                      sender=email_from, id=dealer_id)
    return dealer_id, gateway_id


async def submit(client: TestClient, key: str, **body: Any) -> tuple[int, dict[str, Any]]:
    body.setdefault("to", ["customer@example.com"])
    body.setdefault("subject", "Alarm")
    body.setdefault("text", "Vehicle 7 left the zone.")
    response = await client.post(MESSAGES, json=body,
                                 headers={"Authorization": f"Bearer {key}"})
    return response.status, await response.json()


async def read(client: TestClient, key: str, message_id: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(f"{MESSAGES}/{message_id}",
                                headers={"Authorization": f"Bearer {key}"})
    return response.status, await response.json()


async def wait_for(client: TestClient, key: str, message_id: str, *,
                   statuses: tuple[str, ...] = FINISHED, timeout: float = 15.0
                   ) -> dict[str, Any]:
    """The message once its status is one of `statuses` (fails the test after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = await read(client, key, message_id)
        assert status == 200, body
        if body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"message {message_id} still {body['status']}: {body}")
        await asyncio.sleep(0.05)


async def submit_all(client: TestClient, key: str, bodies: list[dict[str, Any]], *,
                     concurrency: int = 16) -> list[str]:
    """Each body submitted over HTTP, `concurrency` at once; the ids, in the bodies'
    order (every answer must be 202)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> str:
        async with gate:
            status, answer = await submit(client, key, **body)
        assert status == 202, answer
        return str(answer["id"])

    return list(await asyncio.gather(*(one(body) for body in bodies)))


async def wait_until(check: Any, *, timeout: float, what: str, every: float = 0.1) -> Any:
    """Calls the coroutine function `check` until it answers something true; that answer."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not in {timeout} s: {what} ({found!r})")
        await asyncio.sleep(every)


Sample = tuple[str, tuple[tuple[str, str], ...]]


async def metric_samples(client: TestClient) -> dict[Sample, float]:
    """/metrics as {(sample name, sorted labels): value}."""
    response = await client.get("/metrics")
    assert response.status == 200
    samples: dict[Sample, float] = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples
