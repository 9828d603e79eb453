"""Baseline B1 of `platform_bench.py`: the list written by hand with aiohttp + asyncpg.

    BENCH_DSN=postgresql://… python benchmarks/b1_server.py PORT

(the DSN comes from the environment, so a password in it never shows in `ps`)

`POST /v2/panel/gateways/email/list` with `Authorization: NVX <hash>` does the same two
reads as the service and builds the same bytes, with nothing of navixy_panel imported:

1. the session: `sessions.digest = sha256(hash)`, kind `navixy`, not expired, the dealer
   not blocked (INITIAL_BLOCK, BLOCK_LOGIN), and its `email_gateways` permission holding
   `read` (checked by PostgreSQL in the same statement);
2. the list: the dealer's own gateways and its parent's leasable ones, ordered by id;

then `orjson.dumps` of `{"success":true,"bound_gateway":…,"own":[…],"leasable":[…]}` with
every SMTP param key in Navixy's order and the password null (a copy of the rules of
`navixy_panel/domain/smtp_params.py`, `services/gateway_store.py` and
`navixy/gateways_email.py`, written down again here, so the correctness gate of
`platform_bench.py` compares two independent implementations).

One asyncpg pool (10 connections, up to 20, like the service's SQLAlchemy pool); asyncpg
prepares each statement once per connection and reuses it (its statement cache), so both
reads are prepared statements. No transaction: each read is one statement. This is "what a
careful hand-written handler costs" — the service's uncached path (W4) is measured
against it. It runs on uvloop and writes no access log. `GET /health` answers 200.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
from typing import Any

import asyncpg
import orjson
from aiohttp import web

LIST_PATH = "/v2/panel/gateways/email/list"

# Navixy's documented key order for SMTP params; the password is always null in answers.
PASSWORD = "mail.smtp.password"
FROM = "default_from_address"
KEY_ORDER = (
    FROM, "mail.smtp.user", PASSWORD, "mail.smtp.host", "mail.smtp.port", "mail.smtp.ssl.port",
    "mail.smtp.ssl.trust_all_hosts", "mail.smtp.auth", "mail.debug", "mail.smtp.starttls.enable",
    "mail.smtp.starttls.required", "mail.smtp.use_ssl", "mail.smtp.timeout",
    "mail.smtp.connectiontimeout", "mail.transport.protocol",
)
DEFAULTS: dict[str, Any] = {
    FROM: None, "mail.smtp.user": None, "mail.smtp.port": 25, "mail.smtp.ssl.port": 465,
    "mail.smtp.ssl.trust_all_hosts": False, "mail.smtp.auth": False, "mail.debug": False,
    "mail.smtp.starttls.enable": False, "mail.smtp.starttls.required": False,
    "mail.smtp.use_ssl": False, "mail.smtp.timeout": 60000,
    "mail.smtp.connectiontimeout": 60000, "mail.transport.protocol": "smtp",
}

SESSION_SQL = """
SELECT d.id, d.parent_id, d.bound_gateway_id,
       coalesce((d.permissions -> 'email_gateways') ? 'read', false)
FROM sessions s JOIN dealers d ON d.id = s.dealer_id
WHERE s.digest = $1 AND s.kind = 'navixy' AND s.expires_at > now()
  AND d.block_status NOT IN ('INITIAL_BLOCK', 'BLOCK_LOGIN')
"""

LIST_SQL = """
SELECT id, owner_id, label, provider, leasable, params
FROM email_gateways
WHERE owner_id = $1 OR (owner_id = $2 AND leasable)
ORDER BY id
"""

POOL = web.AppKey("pool", asyncpg.Pool)


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def error(code: int, description: str, status: int) -> web.Response:
    body = orjson.dumps({"success": False, "status": {"code": code, "description": description}})
    return web.Response(body=body, status=status, content_type="application/json")


def render(dealer_id: int, bound: int | None, rows: list[asyncpg.Record]) -> bytes:
    own: list[dict[str, Any]] = []
    leasable: list[dict[str, Any]] = []
    for gateway_id, owner_id, label, provider, is_leasable, raw in rows:
        params = orjson.loads(raw)
        if owner_id == dealer_id:
            public = {key: None if key == PASSWORD else params.get(key, DEFAULTS.get(key))
                      for key in KEY_ORDER}
            own.append({"id": gateway_id, "leasable": is_leasable, "label": label,
                        "provider": provider, "params": public})
        else:
            entry = {"id": gateway_id, "label": label, "provider": provider}
            if params.get(FROM) is not None:
                entry[FROM] = params[FROM]
            leasable.append(entry)
    return orjson.dumps({"success": True, "bound_gateway": bound, "own": own,
                         "leasable": leasable})


async def gateway_list(request: web.Request) -> web.Response:
    header = request.headers.get("Authorization", "")
    session_hash = header[4:] if header.startswith("NVX ") else ""
    if len(session_hash) != 32:
        return error(3, "Wrong hash", 400)
    digest = hashlib.sha256(session_hash.encode("ascii", "replace")).digest()
    try:
        async with request.app[POOL].acquire(timeout=2) as connection:
            caller = await connection.fetchrow(SESSION_SQL, digest)
            if caller is None:
                return error(4, "User or API key not found or session ended", 400)
            dealer_id, parent_id, bound, can_read = caller
            if not can_read:
                return error(13, "Operation not permitted", 403)
            rows = await connection.fetch(LIST_SQL, dealer_id, parent_id)
    except TimeoutError:
        return error(14, "Database unavailable", 503)
    return web.Response(body=render(dealer_id, bound, rows), content_type="application/json")


async def health(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def make_app(dsn: str) -> web.Application:
    async def pool_ctx(app: web.Application) -> Any:
        async with asyncpg.create_pool(dsn, min_size=10, max_size=20) as pool:
            app[POOL] = pool
            yield

    app = web.Application()
    app.cleanup_ctx.append(pool_ctx)
    app.router.add_post(LIST_PATH, gateway_list)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    web.run_app(make_app(os.environ["BENCH_DSN"]), host="127.0.0.1", port=args.port,
                access_log=None, print=None, loop=new_event_loop())


if __name__ == "__main__":
    main()
