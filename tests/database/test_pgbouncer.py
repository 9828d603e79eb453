"""The service through a real PgBouncer in transaction-pooling mode (Debian 12's 1.18,
which does not track prepared statements), 2 server connections shared by every
client connection of every instance.

DATABASE_URL points at PgBouncer and NAVIXY_PANEL_DATABASE_DIRECT_URL at PostgreSQL
(the pooler mode then follows by itself: db/pooling.py). The list path (cached and
not), writes, login limits under a burst, cache invalidation between two instances
and two instances migrating at once all work; the control tests show that the same
traffic fails without the pooler options or without the direct URL, so these tests
do go through the pooler.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from navixy_panel.cache import asyncpg_dsn
from navixy_panel.http import keys
from tests.support.api import PASSWORD, Api
from tests.support.cache import eventually, instances
from tests.support.pgbouncer import PgBouncer
from tests.support.smtp import PASSWORD as SMTP_PASSWORD
from tests.support.smtp import USER, smtp_server

LIMITS = {"login_failures_per_login": 10, "login_failures_per_address": 50}


@pytest.fixture
def pooled(pgbouncer: PgBouncer, database_url: str) -> dict[str, Any]:
    """Settings changes: the test database through PgBouncer, the direct URL beside it
    (NAVIXY_PANEL_DATABASE_POOLER left at auto, as in production)."""
    return {"database_url": pgbouncer.url(database_url), "database_direct_url": database_url}


async def arrange_dealers(api: Api) -> dict[str, Any]:
    parent = await api.dealer("parent")
    child = await api.dealer("child", parent="parent")
    leased = [await api.gateway(parent, f"lease {n}", leasable=True) for n in range(2)]
    own = [await api.gateway(child, f"own {n}") for n in range(3)]
    await api.bind(child, own[0])
    return {"parent": parent, "child": child, "leased": leased, "own": own}


@pytest.mark.parametrize("cache", ["on", "off"])
async def test_the_list_under_a_burst(make_client, db, pooled: dict[str, Any],  # type: ignore[no-untyped-def]
                                      pgbouncer: PgBouncer, database_url: str,
                                      cache: str) -> None:
    """200 list calls at once on two instances (64 + 20 + 2 client connections on 2
    server connections): every answer is the same, whether served from cache or read;
    and the server connections hold no prepared statements afterwards (unnamed
    statements: nothing piles up between PgBouncer's transactions)."""
    clients = [await make_client(**pooled, cache_enabled=cache == "on")
               for _ in range(2)]
    api = Api(clients[0], db)
    ids = await arrange_dealers(api)
    for client in clients:
        client.app[keys.CONTEXT].caches.invalidate_all()
    h = await api.login("child")
    expected = await api.ok("gateways/email/list", hash=h)
    assert expected["bound_gateway"] == ids["own"][0]
    assert [g["id"] for g in expected["own"]] == ids["own"]
    assert [g["id"] for g in expected["leasable"]] == ids["leased"]

    async def one(client: TestClient) -> tuple[int, Any]:
        response = await client.post("/v2/panel/gateways/email/list",
                                     headers={"Authorization": f"NVX {h}"})
        return response.status, await response.json()

    answers = await asyncio.gather(*(one(clients[n % 2]) for n in range(200)))
    assert Counter(status for status, _ in answers) == {200: 200}
    assert all(body == expected for _, body in answers)
    pooled = await asyncpg.connect(asyncpg_dsn(pgbouncer.url(database_url)),
                                   statement_cache_size=0)
    try:
        for _ in range(4):  # each lands on one of the 2 server connections
            assert await pooled.fetchval("SELECT count(*) FROM pg_prepared_statements") == 0
    finally:
        await pooled.close()


async def test_writes_through_the_pooler(make_client, db, pooled: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    """Create, update (the stored password kept), test send, delete; 20 creates at once."""
    api = Api(await make_client(**pooled), db)
    await api.dealer("d1")
    h = await api.login("d1")
    with smtp_server(auth=True) as server:
        gateway = {"label": "Relay", "provider": "smtp", "leasable": False,
                   "params": {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": server.port,
                              "mail.smtp.auth": True, "mail.smtp.user": USER,
                              "mail.smtp.password": SMTP_PASSWORD,
                              "default_from_address": "alerts@d1.example"}}
        created = await api.ok("gateways/email/create", hash=h,
                               form={"gateway": json.dumps(gateway)})
        gateway_id = created["id"]
        assert created == {"success": True, "id": gateway_id}
        listed = await api.ok("gateways/email/list", hash=h)
        own = listed["own"][0]
        assert own["params"]["mail.smtp.password"] is None
        own["label"] = "Renamed"
        assert await api.ok("gateways/email/update", hash=h,
                            form={"gateway": json.dumps(own)}) == {"success": True}
        assert await api.ok("gateways/email/send_email", hash=h,
                            json={"gateway_id": gateway_id, "to": "ops@example.org"}) == {
            "success": True}
        assert [m.rcpt_tos for m in server.messages] == [["ops@example.org"]]
    assert [g["label"] for g in (await api.ok("gateways/email/list", hash=h))["own"]] == [
        "Renamed"]

    async def create(n: int) -> int:
        body = await api.ok("gateways/email/create", hash=h, form={"gateway": json.dumps(
            {"label": f"burst {n}", "provider": "smtp", "leasable": False,
             "params": {"mail.smtp.host": "smtp.example.com"}})})
        return int(body["id"])

    burst = await asyncio.gather(*(create(n) for n in range(20)))
    assert len(set(burst)) == 20
    assert await api.ok("gateways/email/delete", hash=h, json={"gateway_id": gateway_id}) == {
        "success": True}
    listed = await api.ok("gateways/email/list", hash=h)
    assert sorted(g["id"] for g in listed["own"]) == sorted(burst)
    rows = await api.sql("SELECT count(*) AS n FROM email_gateways")
    assert rows[0].n == 20


async def test_login_limits_under_a_burst(make_client, db, pooled: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    """40 wrong passwords at once on both faces of two instances: exactly 10 checked
    and refused as wrong, 30 refused as too many; then the right one is refused too."""
    clients = [await make_client(**pooled, **LIMITS) for _ in range(2)]
    api = Api(clients[0], db)
    await api.dealer("d1")

    async def navixy(client: TestClient, password: str) -> tuple[int, Any]:
        response = await client.post("/v2/panel/account/auth",
                                     data={"login": "d1", "password": password})
        return response.status, (await response.json())["status"]["code"]

    async def webitel(client: TestClient, password: str) -> tuple[int, Any]:
        response = await client.post("/login", json={"username": "d1", "password": password})
        return response.status, (await response.json())["info"]

    faces = itertools.cycle([(navixy, clients[0]), (webitel, clients[1]),
                             (navixy, clients[1]), (webitel, clients[0])])
    attempts = [next(faces) for _ in range(40)]
    answers = await asyncio.gather(*(face(client, f"guess-{n}")
                                     for n, (face, client) in enumerate(attempts)))
    wrong = {(400, 12), (401, "Invalid credentials")}
    limited = {(429, 15), (429, "Too many requests")}
    assert (sum(a in wrong for a in answers), sum(a in limited for a in answers)) == (10, 30)
    assert await navixy(clients[1], PASSWORD) == (429, 15)
    rows = await api.sql("SELECT coalesce(sum(hits), 0) AS n FROM rate_counters "
                         "WHERE bucket = 'login-failures:d1'")
    assert rows[0].n == 10


async def logged_out_on_the_first(make_client, db, **settings: Any) -> tuple[Api, str]:  # type: ignore[no-untyped-def]
    """Two instances that both cached a session, which the first then ends: the second
    instance and the ended session's hash."""
    a, b = await instances(make_client, db, **settings)
    await a.dealer("d1")
    h = await a.login("d1")
    for api in (a, b):
        await api.ok("gateways/email/list", hash=h)  # both now hold the session in cache
    await a.ok("account/logout", hash=h)
    return b, h


async def test_a_logout_reaches_the_other_instance_within_a_second(  # type: ignore[no-untyped-def]
        make_client, db, pooled: dict[str, Any]) -> None:
    b, h = await logged_out_on_the_first(make_client, db, **pooled)

    async def refused_on_b() -> bool:
        status, _ = await b.call("gateways/email/list", hash=h)
        return status == 400

    assert await eventually(refused_on_b, within=1.0) < 1.0


async def test_control_listen_through_the_pooler_hears_nothing(  # type: ignore[no-untyped-def]
        make_client, db, pooled: dict[str, Any]) -> None:
    """The reason for the direct URL: LISTEN on the pooled URL (the settings refuse
    this, built here by hand) is accepted, yet a change made by another instance
    never arrives, and the second instance keeps serving a session ended elsewhere."""
    stale = {**pooled, "database_direct_url": None, "database_pooler": "pgbouncer"}
    b, h = await logged_out_on_the_first(make_client, db, **stale)
    await asyncio.sleep(1.5)
    status, _ = await b.call("gateways/email/list", hash=h)
    assert status == 200  # stale: the notification went nowhere


async def test_control_without_the_pooler_options_requests_fail(  # type: ignore[no-untyped-def]
        make_client, db, pooled: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    """NAVIXY_PANEL_DATABASE_POOLER=none through PgBouncer: asyncpg's named statements
    land on server connections other than the one they were prepared on, and requests
    fail with code 6 (the error PgBouncer users know)."""
    clients = [await make_client(**pooled, database_pooler="none", cache_enabled=False)
               for _ in range(2)]
    await arrange_dealers(Api(clients[0], db))  # arranged directly

    async def one(client: TestClient, action: str, **form: str) -> tuple[int, Any]:
        response = await client.post(f"/v2/panel/{action}", data=form)
        body = await response.json()
        return response.status, body if response.status == 200 else body["status"]["code"]

    logins = await asyncio.gather(*(one(clients[n % 2], "account/auth", login="child",
                                        password=PASSWORD) for n in range(20)))
    hashes = [body["hash"] for status, body in logins if status == 200]
    answers = [status for status, _ in logins] + [status for status, _ in await asyncio.gather(
        *(one(clients[n % 2], "gateways/email/list", hash=hashes[n % len(hashes)])
          for n in range(200)))] if hashes else [status for status, _ in logins]
    assert 500 in answers, Counter(answers)
    assert 'prepared statement "__asyncpg_stmt_' in caplog.text


async def test_the_start_line_names_the_mode(make_client, db, pooled: dict[str, Any],  # type: ignore[no-untyped-def]
                                             database_url: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="navixy_panel.resources")
    await make_client(**pooled)
    await make_client(**{**pooled, "database_url": database_url, "database_direct_url": None})
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("database")]
    assert lines == [
        "database connections: transaction pooling (PgBouncer) assumed, "
        "NAVIXY_PANEL_DATABASE_DIRECT_URL differs from DATABASE_URL "
        "(NAVIXY_PANEL_DATABASE_POOLER=auto): statements are not cached on server "
        "connections; LISTEN and migrations use NAVIXY_PANEL_DATABASE_DIRECT_URL",
        "database connections: direct, no separate NAVIXY_PANEL_DATABASE_DIRECT_URL "
        "(NAVIXY_PANEL_DATABASE_POOLER=auto): statements are prepared once per connection",
    ]


def _migrate(environment: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "navixy_panel", "migrate"],
                            env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("route", ["direct URL set", "all through the pooler"])
def test_two_instances_migrating_at_once(create_database, pgbouncer: PgBouncer,  # type: ignore[no-untyped-def]
                                         route: str) -> None:
    """`navixy-panel migrate` twice at once on an empty database, DATABASE_URL on
    PgBouncer: with the direct URL the migration goes there; without it (pooler
    told, caches off) it goes through the pooler, where its one transaction and
    transaction-scoped lock still serialise the two."""
    direct = create_database("navixy_pgb_migrate")
    environment = {**os.environ, "DATABASE_URL": pgbouncer.url(direct),
                   "NAVIXY_PANEL_LOG_LEVEL": "WARNING"}
    if route == "direct URL set":
        environment["NAVIXY_PANEL_DATABASE_DIRECT_URL"] = direct
    else:
        environment.update(NAVIXY_PANEL_DATABASE_POOLER="pgbouncer", NAVIXY_PANEL_CACHE="off")
    runs = [_migrate(environment) for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all(out.strip().endswith("schema is at the latest migration") for out in outputs)

    async def tables() -> tuple[int, list[str]]:
        connection = await asyncpg.connect(asyncpg_dsn(direct))
        try:
            versions = await connection.fetch("SELECT version_num FROM alembic_version")
            count = await connection.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            return int(count), [row[0] for row in versions]
        finally:
            await connection.close()

    count, versions = asyncio.run(tables())
    assert len(versions) == 1 and count >= 6, (count, versions)
