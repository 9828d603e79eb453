"""PgBouncer in front of the test PostgreSQL, for the tests that go through it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.pgbouncer import SKIP_REASON, PgBouncer, binary


@pytest.fixture(scope="session")
def pgbouncer(server_url: str) -> Iterator[PgBouncer]:
    """One PgBouncer for the run (transaction pooling, 2 server connections per
    database); skipped, naming the package, when it is not installed."""
    if binary() is None:
        pytest.skip(SKIP_REASON)
    bouncer = PgBouncer(server_url, pool_size=2)
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()
