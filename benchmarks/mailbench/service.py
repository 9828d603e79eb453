"""navixy-panel for the N rows: the platform it is seeded with, its submission key,
and starting, killing and restarting `serve`.

The platform: the owner (the key's dealer: a platform's notification engine submits for
every dealer with one key), PARENTS parent dealers each owning one leasable gateway, and
DEALERS leasing dealers under them, each bound to its parent's gateway; gateway g points
at sink g % len(sinks). Gateways have no AUTH and no TLS, as the demo's do, and
NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS opens loopback to them. Seeded with COPY after the
schema is migrated by the service's own migrations.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from platform_bench import (
    BenchError,
    Database,
    Processes,
    free_port,
    http,
    wait_for_health,
)

PARENTS = 20
DEALERS = 1_000
OWNER_LOGIN = "platform"
PASSWORD = "delivery-benchmark-password"


@dataclass
class Platform:
    owner_id: int
    dealer_ids: list[int]  # the leasing dealers, in order
    gateway_of: dict[int, int]  # dealer id -> its bound gateway id
    sink_of_gateway: dict[int, int]  # gateway id -> sink port


def _gateway_params(port: int, parent: int) -> str:
    """What a dealer types in for the demo's gateways, stored as the service stores it
    (services/gateway_store.py: no password key, no user when AUTH is off)."""
    from navixy_panel.domain.smtp_params import AUTH, USER, SmtpParamsSchema
    from navixy_panel.domain.smtp_params import PASSWORD as PASSWORD_KEY

    loaded = SmtpParamsSchema().load({"mail.smtp.host": "127.0.0.1", "mail.smtp.port": port,
                                      "default_from_address": f"no-reply@parent{parent}.example"})
    stored = {key: value for key, value in loaded.items() if key != PASSWORD_KEY}
    if not stored[AUTH]:
        stored[USER] = None
    return orjson.dumps(stored).decode()


async def seed(dsn: str, sink_ports: list[int]) -> Platform:
    from navixy_panel.domain import permissions
    from navixy_panel.security.passwords import hash_password

    password_hash = hash_password(PASSWORD)  # one argon2id hash for everyone
    rights = orjson.dumps(permissions.everything()).decode()
    dealers: list[tuple[Any, ...]] = [(1, OWNER_LOGIN, password_hash, "Platform owner", None,
                                       rights)]
    gateways: list[tuple[Any, ...]] = []
    sink_of_gateway = {}
    for number in range(1, PARENTS + 1):
        parent_id, gateway_id = 1 + number, number
        dealers.append((parent_id, f"parent-{number:02d}", password_hash, f"Parent {number}",
                        1, rights))
        port = sink_ports[(gateway_id - 1) % len(sink_ports)]
        sink_of_gateway[gateway_id] = port
        gateways.append((gateway_id, parent_id, f"Relay {number}", "smtp", True,
                         _gateway_params(port, number)))
    gateway_of = {}
    first = 2 + PARENTS
    for number in range(DEALERS):
        dealer_id, parent = first + number, number % PARENTS + 1
        dealers.append((dealer_id, f"dealer-{number + 1:04d}", password_hash,
                        f"Dealer {number + 1}", 1 + parent, rights))
        gateway_of[dealer_id] = parent
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            await connection.copy_records_to_table(
                "dealers", records=dealers,
                columns=("id", "login", "password_hash", "title", "parent_id", "permissions"))
            await connection.copy_records_to_table(
                "email_gateways", records=gateways,
                columns=("id", "owner_id", "label", "provider", "leasable", "params"))
            await connection.executemany(
                "UPDATE dealers SET bound_gateway_id = $2 WHERE id = $1",
                list(gateway_of.items()))
            for table in ("dealers", "email_gateways"):
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))")
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return Platform(1, list(gateway_of), gateway_of, sink_of_gateway)


# --------------------------------------------------------------------------- the key


def create_key(db: Database, env: dict[str, str], login: str) -> str:
    """`navixy-panel key create --dealer LOGIN`; on a build without that command, the
    same thing by hand (`_insert_key`), so the benchmark runs on either."""
    done = subprocess.run([sys.executable, "-m", "navixy_panel", "key", "create", "--dealer",
                           login, "--label", "delivery benchmark"],
                          env={**env, "DATABASE_URL": db.url}, capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode == 0:
        return str(json.loads(done.stdout.strip().splitlines()[-1])["key"])
    if "invalid choice: 'key'" not in done.stderr and "'create'" not in done.stderr:
        raise BenchError(f"navixy-panel key create failed: {done.stderr[-500:]}")
    print("(no `navixy-panel key create` on this build: the key is inserted by hand)",
          flush=True)
    return asyncio.run(_insert_key(db.dsn, login))


async def _insert_key(dsn: str, login: str) -> str:
    """What `key create` stores: `npk_` and 43 URL-safe characters, kept as its SHA-256."""
    key = "npk_" + secrets.token_urlsafe(32)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "INSERT INTO submission_keys (dealer_id, label, digest) "
            "SELECT id, 'delivery benchmark', $2 FROM dealers WHERE login = $1",
            login, hashlib.sha256(key.encode("ascii")).digest())
    finally:
        await connection.close()
    return key


# --------------------------------------------------------------------------- serve


class Service:
    """One `serve` process at a time, on the same port across restarts."""

    def __init__(self, processes: Processes, db: Database, env: dict[str, str]) -> None:
        self.processes = processes
        self.env = env
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[Any] | None = None
        self.starts = 0
        # What is started (the benchmark's subject): `serve` of this checkout.
        self.command = [sys.executable, "-m", "navixy_panel", "serve", "--port",
                        str(self.port), "--no-migrate"]

    def start(self, **extra: str) -> subprocess.Popen[Any]:
        self.starts += 1
        name = f"service-{self.starts}"
        self.process = self.processes.start(name, self.command, {**self.env, **extra})
        wait_for_health(self.url, self.process, self.processes.log(name))
        return self.process

    @property
    def log_name(self) -> str:
        return f"service-{self.starts}"

    def stop(self) -> None:
        if self.process is not None:
            self.processes.stop(self.process, self.log_name)
            self.process = None

    def kill(self) -> None:
        """kill -9: no shutdown code runs, connections drop as they are."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.processes.stop(self.process, self.log_name)  # forgets it
            self.process = None

    def statuses(self, key: str, message_ids: list[str], *,
                 within: float = 5.0) -> dict[str, str]:
        """`GET /mail/v1/messages/{id}` of each: its status (and reason, last reply), read
        again for up to `within` seconds while any is not `sent` (the service marks a
        message sent just after the relay's 250, a moment after the sink counted it)."""
        deadline = time.monotonic() + within
        while True:
            found = {}
            for message_id in message_ids:
                status, answer = http(f"{self.url}/mail/v1/messages/{message_id}",
                                      headers={"Authorization": f"Bearer {key}"})
                if status != 200:
                    found[message_id] = f"HTTP {status} {answer[:200].decode(errors='replace')}"
                    continue
                view = orjson.loads(answer)
                found[message_id] = view["status"]
                if view["status"] != "sent":
                    attempts = view.get("attempts") or [{}]
                    found[message_id] += (f" (reason {view.get('reason')}, last attempt "
                                          f"{attempts[-1]})")
            if all(value == "sent" for value in found.values()) \
                    or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def has_submission_api(self, key: str, dealer_id: int) -> tuple[bool, str]:
        """Whether this build takes `POST /mail/v1/messages` (a 404 says it has no such
        route); submits nothing (an empty `to` is refused by any build that has it)."""
        status, answer = http(self.url + "/mail/v1/messages",
                              data=orjson.dumps({"dealer": dealer_id, "to": []}),
                              headers={"Authorization": f"Bearer {key}",
                                       "Content-Type": "application/json"})
        text = f"HTTP {status} {answer[:200].decode(errors='replace')}"
        if status in (401, 403):
            raise BenchError(f"the submission API refused the benchmark's key: {text}")
        if status == 404:
            return False, f"this build has no POST /mail/v1/messages: {text}"
        return True, text
