"""The delivery tests' app: delivery workers on, retries after 0.2 s instead of a minute."""

from __future__ import annotations

import pytest

from tests.support.api import Api


@pytest.fixture
async def deliverer(make_client, api: Api):  # type: ignore[no-untyped-def]
    """(client, api) on an app that delivers; `api` calls that app."""
    client = await make_client(deliver=True, delivery_retry_base_seconds=0.2)
    api.client = client
    return client, api
