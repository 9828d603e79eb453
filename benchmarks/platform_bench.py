"""`gateways/email/list` across a whole platform, against two baselines.

    python benchmarks/platform_bench.py [--rounds 3] [--duration 10] [--connections 64,256]
                                        [--big] [--database-url postgresql://…]
                                        [--profile DIR] [--strict] [--pgbouncer]

(Not `platform.py`: run as a script, that name would shadow the standard library's
`platform` module for every import in this process and in the baselines beside it.)

Why this design. The list is the call Navixy's admin panel makes on every visit to the
gateways page, so what matters is how the service holds up when thousands of dealers use it
at once while others write, not how fast it answers one dealer's repeated call. So:

- a platform, not one dealer: an owner with 5 leasable gateways, 100 dealers under it with
  2 leasable gateways each, 10,000 sub-dealers under those with 1-3 own gateways each
  (some bound to an own gateway, some to a parent's leasable one, some to none), seeded in
  bulk with COPY (deterministic, `--seed`); `--big` adds filler dealers without sessions
  up to ~1,000,000 gateways, to show the list does not slow down with the table;
- 2,000 live sessions made by real `account/auth` calls, and wrk picking one of them at
  random per request (`random_hash.lua`), so caches hold many entries, not one;
- workloads: W1 one hash repeated (the best case of the caches), W2 the 2,000 hashes, W3
  W2 while a separate process (`churn.py`) updates 2 gateways and logs 1 dealer out and 1
  in per second (every write invalidates the caches of every instance), W4 W2 against a
  second instance with `NAVIXY_PANEL_CACHE=off` (the uncached path). The updates are made
  with sessions of the pool (a real dealer saving its gateway), but the logouts and logins
  use 50 other dealers, so every hash in wrk's file stays valid: a logged-out hash would
  make wrk count code-4 answers the benchmark itself caused;
- two baselines on the same host, each its own process: B0 bare aiohttp answering fixed
  bytes of the median-size list (W1 repeats that dealer's hash; the ceiling of any aiohttp
  service here), B1 the same
  two reads written by hand with aiohttp + asyncpg (`b1_server.py`; what the uncached path
  could cost). Ratios to them make figures comparable between hosts;
- a correctness gate before and after the rounds: for each of the 2,000 sessions both
  service instances must answer byte for byte what B1 computes from the database. After
  the rounds this also proves the caches saw every write of W3;
- rounds alternate W1 W2 W3 W4 B0 B1 (3 of each at least), so a drift of the host (other
  work, thermal limits) spreads over all of them; medians are reported. W2 and W3 start
  from warm caches: every session's list is fetched once before them, unmeasured (W3's
  writes of the round before cleared them); the time that takes is printed, as it is what
  a cache clear costs the caches-on instance.

Everything runs in a temporary folder: the embedded PostgreSQL (or a throwaway database
created on `--database-url`'s server and dropped at the end), the two service instances
(`python -m navixy_panel serve --no-migrate`), B0, B1, the churn process and wrk. All of
them are stopped at the end, on failure and on Ctrl-C (SIGTERM too); child processes also
get SIGTERM if this script is killed.

Failed answers are counted twice: by wrk (`random_hash.lua`: anything but HTTP 200 with
"success":true, plus socket errors) and by the services' own /metrics (non-zero Navixy
codes), which also sees the answers to requests wrk gave up on when a round ended.

`--pgbouncer` puts a PgBouncer (Debian's `pgbouncer` package, installed with apt-get if
missing) in transaction-pooling mode between both service instances and PostgreSQL:
DATABASE_URL leads through it, NAVIXY_PANEL_DATABASE_DIRECT_URL to PostgreSQL (LISTEN), so
W1-W4 run through it while B1 stays direct; compare its W2 and W4 with a run without it
(target: ≥ 0.9 × the direct figures, no failed answer at 64 and 256 connections).

Targets (per connection count): W3 ≥ 0.9 × W2 req/s and W3 p99 ≤ 2 × W2 p99; W4 ≥ 1.0 ×
B1; W1 ≥ 0.55 × B0; no answer other than HTTP 200 with "success":true; peak RSS ≤ 200 MB
per service process; with `--big`, W2 ≥ 0.9 × the W2 of a run without it (`--small-w2`).
Each is printed PASS or MISS.

Exit status: 1 when the run failed (a correctness mismatch, any answer of the service
that was not 200 with "success":true, a socket error, a failed churn call, a setup error;
the baselines' own failures under overload are printed as a warning); 2 with
`--strict` when a target was missed; 130 when interrupted; else 0. wrk comes from the
Debian package `wrk` (installed with apt-get if missing); `--profile` needs py-spy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import asyncpg
import orjson
import psutil
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LIST_PATH = "/v2/panel/gateways/email/list"
AUTH_PATH = "/v2/panel/account/auth"
PASSWORD = "platform-benchmark-password"
TEMP_PREFIX = "nvx-platform-"
THREADS = 2
WRK_TIMEOUT = "10s"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
RSS_INTERVAL = 0.5
# PgBouncer's default_pool_size with --pgbouncer: the two services open up to 37 client
# connections each (20 SQLAlchemy, 16 list-path, 1 LISTEN, which goes direct).
PGBOUNCER_POOL = 20
RSS_LIMIT_MB = 200

# The platform.
OWNER_LEASABLE = 5
MID_DEALERS, MID_LEASABLE = 100, 2
SUB_DEALERS = 10_000
SESSIONS = 2_000
CHURN_DEALERS = 50
BIG_TOTAL_GATEWAYS = 1_000_000
BIG_FILLER_DEALERS = 50_000
LOGIN_CONCURRENCY = 8
GATE_CONCURRENCY = 8

WORKLOADS = ("W1", "W2", "W3", "W4", "B0", "B1")
# Rounds that start from warm caches: every session's list is fetched once before them.
PRIMED = ("W2", "W3")
DESCRIPTIONS = {
    "W1": "one hash repeated, caches on",
    "W2": f"{SESSIONS} hashes at random, caches on",
    "W3": "W2 + 2 updates/s, 1 logout + 1 login/s",
    "W4": "W2 against the caches-off instance",
    "B0": "bare aiohttp, fixed bytes",
    "B1": "aiohttp + asyncpg by hand",
}


class BenchError(Exception):
    """A failure that ends the run with status 1 and this message."""


class Interrupted(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so every `finally` cleans up."""


# --------------------------------------------------------------------------- processes

_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when this script dies, even by SIGKILL."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Processes:
    """Every child process, stopped in reverse order by `stop_all`."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.started: list[tuple[str, subprocess.Popen[Any]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str], *,
              stdout: int | None = None) -> subprocess.Popen[Any]:
        log = (self.work_dir / f"{name}.log").open("ab")
        try:
            process = subprocess.Popen(
                args, env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                stdout=log if stdout is None else stdout, stderr=log,
                # Its own session: Ctrl-C reaches only this script, which stops the
                # children in order (services before the database) and reports.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                text=stdout is not None)
        finally:
            log.close()
        self.started.append((name, process))
        return process

    def log(self, name: str) -> Path:
        return self.work_dir / f"{name}.log"

    def stop(self, process: subprocess.Popen[Any], name: str) -> None:
        """SIGTERM and wait; SIGKILL only if it does not exit in time."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                print(f"WARNING: {name} (pid {process.pid}) ignored SIGTERM; killing it",
                      file=sys.stderr)
                process.kill()
                process.wait()
        self.started = [(n, p) for n, p in self.started if p is not process]

    def stop_all(self) -> None:
        for name, process in reversed(list(self.started)):
            self.stop(process, name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_for_health(url: str, process: subprocess.Popen[Any], log: Path,
                    timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{' '.join(map(str, process.args))} exited with status "
                             f"{process.returncode} before answering /health:\n{tail(log)}")
        with contextlib.suppress(OSError):
            if http(url + "/health", timeout=2)[0] == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"{url}/health did not answer within {timeout:.0f} s:\n{tail(log)}")


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is not installed; installing the Debian package `wrk` with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "wrk"]
    try:
        if subprocess.run(install, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
    except OSError as exc:
        raise BenchError(f"cannot run apt-get to install wrk ({exc}); install wrk yourself") \
            from None
    found = shutil.which("wrk")
    if not found:
        raise BenchError("`apt-get install -y wrk` failed; install wrk yourself and run again")
    return found


# --------------------------------------------------------------------------- database


@dataclass
class Database:
    url: str  # SQLAlchemy's asyncpg flavour, what the service and alembic take
    label: str

    @property
    def dsn(self) -> str:
        """libpq form, for asyncpg."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(
            hide_password=False)


@contextlib.contextmanager
def pooled(args: argparse.Namespace, db: Database) -> Iterator[dict[str, str]]:
    """With --pgbouncer: PgBouncer in front of `db` for as long as the run lasts, as the
    services' environment (DATABASE_URL through it, the direct URL beside it)."""
    if not args.pgbouncer:
        yield {}
        return
    if shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").exists():
        print("installing pgbouncer (apt-get)", flush=True)
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq",
                                                       "pgbouncer"]):
            if subprocess.run(command, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                              stdout=subprocess.DEVNULL, check=False).returncode != 0:
                raise BenchError("`apt-get install -y pgbouncer` failed; install it yourself")
        subprocess.run(["service", "pgbouncer", "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    sys.path.insert(0, str(REPO))
    from tests.support.pgbouncer import PgBouncer, version  # the test suite's fixture
    bouncer = PgBouncer(db.url, pool_size=args.pgbouncer_pool)
    bouncer.start()
    try:
        print(f"through {version()} on 127.0.0.1:{bouncer.port}: pool_mode = transaction, "
              f"{args.pgbouncer_pool} server connections; LISTEN direct", flush=True)
        yield {"DATABASE_URL": bouncer.url(db.url),
               "NAVIXY_PANEL_DATABASE_DIRECT_URL": db.url}
    finally:
        bouncer.stop()
        print("pgbouncer stopped", flush=True)


@contextlib.contextmanager
def database(args: argparse.Namespace, work_dir: Path) -> Iterator[Database]:
    """The embedded PostgreSQL in `work_dir`, or a new database on --database-url's server;
    stopped (dropped) on the way out, whatever happened."""
    if args.database_url:
        server = make_url(args.database_url.replace("postgres://", "postgresql://", 1))
        server = server.set(drivername="postgresql+asyncpg")
        name = f"navixy_bench_{secrets.token_hex(4)}"
        admin = Database(server.render_as_string(hide_password=False), "admin").dsn
        asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
        try:
            yield Database(server.set(database=name).render_as_string(hide_password=False),
                           f"database {name} on {server.render_as_string(hide_password=True)}")
        finally:
            asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            print(f"dropped database {name}", flush=True)
        return
    from navixy_panel.db.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(work_dir / "db")
    try:
        url = server.start()
        yield Database(url, f"embedded PostgreSQL in {server.pgdata}")
    finally:
        server.stop()
        print("embedded PostgreSQL stopped", flush=True)


async def _admin(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


# --------------------------------------------------------------------------- seeding

LABELS = ("Own relay {n}", "Relais für Händler {n}", "Почтовый шлюз {n}",
          'Relay "primary" {n}', "Backup \\ SMTP {n}")
# What dealers type in; loaded through the service's own schema, then stored as the
# service stores them (services/gateway_store.py `_stored_params`: no password key, no user
# when auth is off).
PARAM_INPUTS: tuple[dict[str, Any], ...] = (
    {"mail.smtp.host": "smtp.tag.example", "mail.smtp.port": 587,
     "mail.smtp.starttls.enable": True, "mail.smtp.starttls.required": True,
     "mail.smtp.auth": True, "mail.smtp.user": "mailer@tag.example",
     "default_from_address": "alerts@tag.example"},
    {"mail.smtp.host": "smtp.tag.example", "mail.smtp.use_ssl": True, "mail.smtp.ssl.port": 465,
     "mail.smtp.auth": True, "mail.smtp.user": "tag", "mail.smtp.password": "secret"},
    {"mail.smtp.host": "smtp.tag.example"},
    {"mail.smtp.host": "smtp.tag.example", "mail.smtp.port": 2525, "mail.debug": True,
     "mail.smtp.timeout": 30000, "mail.smtp.connectiontimeout": 10000,
     "mail.smtp.ssl.trust_all_hosts": True, "mail.smtp.user": "dropped-when-auth-off",
     "default_from_address": "no-reply@tag.example"},
)


def stored_templates() -> list[dict[str, Any]]:
    from navixy_panel.domain.smtp_params import AUTH, USER, SmtpParamsSchema
    from navixy_panel.domain.smtp_params import PASSWORD as PASSWORD_KEY

    templates = []
    for given in PARAM_INPUTS:
        loaded = SmtpParamsSchema().load(given)
        stored = {key: value for key, value in loaded.items() if key != PASSWORD_KEY}
        if not stored[AUTH]:
            stored[USER] = None
        templates.append(stored)
    return templates


def params_for(template: dict[str, Any], tag: str) -> str:
    """The template with `tag` in its host, user and from address."""
    params = {key: value.replace("tag", tag) if isinstance(value, str) else value
              for key, value in template.items()}
    return orjson.dumps(params).decode()


@dataclass
class Platform:
    pool_logins: list[str]
    churn_logins: list[str]
    dealers: int
    gateways: int
    bound_own: int
    bound_leased: int
    sample_dealer: tuple[int, int | None] = (0, None)


async def seed(dsn: str, *, big: bool, rng_seed: int) -> Platform:
    from navixy_panel.domain import permissions
    from navixy_panel.security.passwords import hash_password

    rng = random.Random(rng_seed)
    password_hash = hash_password(PASSWORD)  # one argon2id hash for everyone
    rights = orjson.dumps(permissions.everything()).decode()
    templates = stored_templates()
    dealers: list[tuple[Any, ...]] = []
    gateways: list[tuple[Any, ...]] = []
    bindings: list[tuple[int, int]] = []
    ids = iter(range(1, 10**9))

    def gateway(owner: int, leasable: bool, provider: str = "smtp") -> int:
        gateway_id = next(ids)
        label = rng.choice(LABELS).format(n=gateway_id)
        gateways.append((gateway_id, owner, label, provider, leasable,
                         params_for(rng.choice(templates), f"d{owner}")))
        return gateway_id

    dealers.append((1, "owner", password_hash, "Platform owner", None, rights))
    for _ in range(OWNER_LEASABLE):
        gateway(1, True, rng.choice(("mandrill_smtp", "sendgrid_smtp", "smtp")))
    mids = list(range(2, 2 + MID_DEALERS))
    leased: dict[int, list[int]] = {}
    for number, mid in enumerate(mids, 1):
        dealers.append((mid, f"mid-{number:03d}", password_hash, f"Dealer {number}", 1, rights))
        leased[mid] = [gateway(mid, True, rng.choice(("mandrill_smtp", "smtp")))
                       for _ in range(MID_LEASABLE)]
    subs = list(range(mids[-1] + 1, mids[-1] + 1 + SUB_DEALERS))
    logins = {}
    bound_own = bound_leased = 0
    for number, sub in enumerate(subs):
        parent = mids[number % MID_DEALERS]
        logins[sub] = f"sub-{number + 1:05d}"
        dealers.append((sub, logins[sub], password_hash, f"Sub-dealer {number + 1}", parent,
                        rights))
        own = [gateway(sub, rng.random() < 0.1) for _ in range(rng.randint(1, 3))]
        draw = rng.random()
        if draw < 0.4:
            bindings.append((sub, rng.choice(own)))
            bound_own += 1
        elif draw < 0.7:
            bindings.append((sub, rng.choice(leased[parent])))
            bound_leased += 1

    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            await connection.copy_records_to_table(
                "dealers", records=dealers,
                columns=("id", "login", "password_hash", "title", "parent_id", "permissions"))
            await connection.copy_records_to_table(
                "email_gateways", records=gateways,
                columns=("id", "owner_id", "label", "provider", "leasable", "params"))
            await connection.execute("CREATE TEMP TABLE bench_bindings "
                                     "(dealer_id bigint, gateway_id bigint) ON COMMIT DROP")
            await connection.copy_records_to_table("bench_bindings", records=bindings)
            await connection.execute(
                "UPDATE dealers SET bound_gateway_id = b.gateway_id FROM bench_bindings b "
                "WHERE dealers.id = b.dealer_id")
            for table in ("dealers", "email_gateways"):
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))")
        if big:
            await seed_filler(connection, mids, password_hash, rights, templates,
                              BIG_TOTAL_GATEWAYS - len(gateways))
        await connection.execute("VACUUM ANALYZE")
        total_dealers, total_gateways = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM dealers), (SELECT count(*) FROM email_gateways)")
    finally:
        await connection.close()
    order = subs[:]
    rng.shuffle(order)
    return Platform(pool_logins=[logins[sub] for sub in order[:SESSIONS]],
                    churn_logins=[logins[sub] for sub in
                                  order[SESSIONS:SESSIONS + CHURN_DEALERS]],
                    dealers=total_dealers, gateways=total_gateways, bound_own=bound_own,
                    bound_leased=bound_leased, sample_dealer=(order[0], mids[0]))


async def seed_filler(connection: asyncpg.Connection, mids: list[int], password_hash: str,
                      rights: str, templates: list[dict[str, Any]], count: int) -> None:
    """Dealers under the mid-level ones, without sessions, owning `count` gateways (a
    quarter leasable, spread over the table): without the indexes every list would read
    them."""
    started = time.monotonic()
    rows = await connection.fetch(
        "INSERT INTO dealers (login, password_hash, title, parent_id, permissions) "
        "SELECT 'filler-' || g, $1, 'Filler ' || g, ($2::bigint[])[1 + g % $3::int], $4::jsonb "
        "FROM generate_series(1, $5::int) g RETURNING id",
        password_hash, mids, len(mids), rights, BIG_FILLER_DEALERS)
    filler_ids = [row["id"] for row in rows]
    params = [params_for(template, "filler") for template in templates]
    await connection.execute(
        "INSERT INTO email_gateways (owner_id, label, provider, leasable, params) "
        "SELECT ($1::bigint[])[1 + g % $2::int], 'Filler gateway ' || g, 'smtp', g % 4 = 0, "
        "       ($3::jsonb[])[1 + g % $4::int] "
        "FROM generate_series(0, $5::int - 1) g",
        filler_ids, len(filler_ids), params, len(params), count)
    print(f"  --big: {len(filler_ids):,} filler dealers, {count:,} filler gateways in "
          f"{time.monotonic() - started:.1f} s", flush=True)


async def explain_list(dsn: str, dealer_id: int, parent_id: int | None) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "
            "SELECT id, owner_id, label, provider, leasable, params FROM email_gateways "
            "WHERE owner_id = $1 OR (owner_id = $2 AND leasable) ORDER BY id",
            dealer_id, parent_id)
    finally:
        await connection.close()
    return [row[0] for row in rows]


# --------------------------------------------------------------------------- HTTP clients


async def log_in_all(urls: list[str], logins: list[str]) -> dict[str, str]:
    """login -> session hash, by real `account/auth` calls (form body, like the panel),
    spread over the instances: each checks argon2 hashes in a small pool of its own, and
    sessions live in PostgreSQL, valid on every instance."""
    hashes: dict[str, str] = {}
    failures: list[str] = []
    gate = asyncio.Semaphore(LOGIN_CONCURRENCY)

    async def one(client: aiohttp.ClientSession, login: str, url: str) -> None:
        async with gate:
            async with client.post(url + AUTH_PATH,
                                   data={"login": login, "password": PASSWORD}) as response:
                body = await response.read()
        if response.status != 200 or b'"success":true' not in body:
            failures.append(f"{login}: HTTP {response.status} {body[:200]!r}")
            return
        hashes[login] = orjson.loads(body)["hash"]

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        await asyncio.gather(*(one(client, login, urls[n % len(urls)])
                               for n, login in enumerate(logins)))
    if failures:
        raise BenchError(f"{len(failures)} logins failed, first: {failures[0]}")
    return hashes


async def fetch_lists(url: str, hashes: list[str]) -> list[tuple[int, bytes]]:
    gate = asyncio.Semaphore(GATE_CONCURRENCY)

    async def one(client: aiohttp.ClientSession, session_hash: str) -> tuple[int, bytes]:
        async with gate:
            async with client.post(url + LIST_PATH,
                                   headers={"Authorization": f"NVX {session_hash}"}) as response:
                return response.status, await response.read()

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        return await asyncio.gather(*(one(client, h) for h in hashes))


def correctness_gate(when: str, services: dict[str, str], b1_url: str, logins: list[str],
                     hashes: list[str]) -> tuple[list[str], dict[str, bytes]]:
    """Every session's list from each service instance must equal B1's, byte for byte.
    Returns the mismatches (described) and the caches-on instance's bodies by hash."""
    started = time.monotonic()
    expected = asyncio.run(fetch_lists(b1_url, hashes))
    mismatches: list[str] = []
    bodies: dict[str, bytes] = {}
    for name, url in services.items():
        answers = asyncio.run(fetch_lists(url, hashes))
        count = 0
        for login, session_hash, (status, body), (b1_status, b1_body) in zip(
                logins, hashes, answers, expected, strict=True):
            if name == "caches-on":
                bodies[session_hash] = body
            if status == 200 and b1_status == 200 and body == b1_body \
                    and body.startswith(b'{"success":true'):
                continue
            count += 1
            if count <= 3:
                mismatches.append(f"{when}, {name} vs B1, dealer {login}: "
                                  f"{describe_difference(status, body, b1_status, b1_body)}")
        if count > 3:
            mismatches.append(f"{when}, {name} vs B1: {count - 3} more mismatches")
        print(f"  {when}: {len(hashes) - count}/{len(hashes)} lists of the {name} instance "
              f"identical to B1's", flush=True)
    print(f"  ({time.monotonic() - started:.1f} s)", flush=True)
    return mismatches, bodies


def prime(url: str, hashes: list[str], failures: list[str]) -> float:
    """Lists every session once (unmeasured), so a round starts with warm caches whatever
    the round before it did (W3's writes clear them). Returns the seconds it took: the
    time the caches-on instance needs to refill after a clear."""
    started = time.monotonic()
    answers = asyncio.run(fetch_lists(url, hashes))
    bad = [f"HTTP {status} {body[:160]!r}" for status, body in answers
           if status != 200 or b'"success":true' not in body]
    if bad:
        failures.append(f"priming the caches: {len(bad)} bad answers, first: {bad[0]}")
    return time.monotonic() - started


def describe_difference(status: int, body: bytes, b1_status: int, b1_body: bytes) -> str:
    if status != 200 or b1_status != 200:
        return f"HTTP {status} {body[:160]!r} vs HTTP {b1_status} {b1_body[:160]!r}"
    at = next((i for i, (a, b) in enumerate(zip(body, b1_body, strict=False)) if a != b),
              min(len(body), len(b1_body)))
    start = max(0, at - 40)
    return (f"{len(body)} vs {len(b1_body)} bytes, first difference at byte {at}: "
            f"{body[start:at + 60]!r} vs {b1_body[start:at + 60]!r}")


# --------------------------------------------------------------------------- wrk rounds


@dataclass
class Round:
    workload: str
    connections: int
    index: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int  # answers that were not 200 with "success":true
    bad_kinds: str
    socket_errors: int
    first_bad: str
    churn: dict[str, Any] | None = None
    primed_seconds: float | None = None
    # Non-success answers the service counted during the round, those to requests wrk had
    # given up on at the end of the round included (wrk never sees those).
    service_failed: Counter[str] = field(default_factory=Counter)

    @property
    def errors(self) -> int:
        """What wrk saw go wrong."""
        return self.bad + self.socket_errors

    @property
    def service_errors(self) -> int:
        return sum(self.service_failed.values())


def run_wrk(wrk: str, workload: str, index: int, connections: int, url: str, hash_file: Path,
            duration: float) -> Round:
    command = [wrk, f"-t{THREADS}", f"-c{connections}", f"-d{duration:g}s",
               "--timeout", WRK_TIMEOUT, "-s", str(HERE / "random_hash.lua"), url + LIST_PATH,
               "--", str(hash_file)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120,
                          check=False)
    output = done.stdout
    stats = re.search(r"^BENCH (.*)$", output, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if done.returncode != 0 or stats is None or rps is None:
        raise BenchError(f"wrk failed ({done.returncode}) on {url}:\n{output}{done.stderr}")
    values = {key: int(value) for key, value in
              (pair.split("=") for pair in stats.group(1).split())}
    first_bad = re.search(r"^BENCH_FIRST_BAD ?(.*)$", output, re.MULTILINE)
    kinds = ", ".join(f"{values[key]} {label}" for key, label in
                      (("bad_200", "200 without success"), ("bad_4xx", "4xx"),
                       ("bad_5xx", "5xx"), ("bad_other", "other")) if values[key])
    sockets = sum(values[key] for key in ("connect", "read", "write", "timeout"))
    return Round(workload, connections, index, float(rps.group(1)), values["p50_us"] / 1000,
                 values["p99_us"] / 1000, values["requests"], values["bad"], kinds, sockets,
                 first_bad.group(1).strip() if first_bad else "")


class ChurnProcess:
    """`churn.py` around one W3 round: started (and READY) before wrk, stopped after."""

    def __init__(self, processes: Processes, env: dict[str, str], url: str, pool_file: Path,
                 logins_file: Path, seed: int) -> None:
        self.processes = processes
        self.process = processes.start(
            "churn", [sys.executable, str(HERE / "churn.py"), "--url", url, "--hashes",
                      str(pool_file), "--logins", str(logins_file), "--seed", str(seed)],
            {**env, "BENCH_PASSWORD": PASSWORD}, stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        self.stdout: TextIO = self.process.stdout
        ready = threading.Event()
        self.lines: list[str] = []

        def read() -> None:
            for line in self.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("READY"):
                    ready.set()

        self.reader = threading.Thread(target=read, daemon=True, name="churn-reader")
        self.reader.start()
        if not ready.wait(60):
            self.processes.stop(self.process, "churn")
            raise BenchError(f"churn.py did not get ready:\n{tail(processes.log('churn'))}")

    def finish(self) -> dict[str, Any]:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(120)
        except subprocess.TimeoutExpired:
            self.processes.stop(self.process, "churn")
            raise BenchError("churn.py did not finish within 120 s of SIGTERM") from None
        self.processes.stop(self.process, "churn")  # forgets it
        self.reader.join(5)
        for line in self.lines:
            if line.startswith("RESULT "):
                result: dict[str, Any] = orjson.loads(line[len("RESULT "):])
                return result
        raise BenchError(f"churn.py exited with {self.process.returncode} and no result:\n"
                         f"{tail(self.processes.log('churn'))}")


def churn_failures(result: dict[str, Any] | None) -> int:
    if not result:
        return 0
    return sum(value.get("failed", 0) for value in result.values() if isinstance(value, dict))


def churn_note(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    parts = []
    for kind in ("update", "logout", "login"):
        stats = result.get(kind)
        if stats:
            failed = f", {stats['failed']} FAILED" if stats["failed"] else ""
            parts.append(f"{stats['calls']} {kind}s p99 {stats['p99_ms']:.0f} ms{failed}")
    return "churn: " + "; ".join(parts)


# --------------------------------------------------------------------------- memory, load


class RssSampler(threading.Thread):
    """Peak RSS of each named process, sampled every RSS_INTERVAL seconds."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.processes: dict[str, psutil.Process] = {}
        self.peak: dict[str, int] = {}
        self._stop_event = threading.Event()

    def watch(self, name: str, pid: int) -> None:
        self.processes[name] = psutil.Process(pid)

    def run(self) -> None:
        while not self._stop_event.wait(RSS_INTERVAL):
            self.sample()

    def sample(self) -> None:
        for name, process in list(self.processes.items()):
            with contextlib.suppress(psutil.Error):
                rss = process.memory_info().rss
                self.peak[name] = max(self.peak.get(name, 0), rss)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join()


def vm_hwm(pid: int) -> int | None:
    """The kernel's own peak RSS of a live process (VmHWM), in bytes."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def foreign_cpu_seconds(work_dir: Path) -> dict[int, float]:
    """CPU seconds so far of every process that is not this benchmark's: not this process
    or its descendants, not the embedded PostgreSQL in `work_dir` (it daemonises) or its
    backends. (A --database-url server on this host counts as foreign.)"""
    ours = {os.getpid()} | {child.pid for child in psutil.Process().children(recursive=True)}
    for process in psutil.process_iter(attrs=["name", "cmdline"]):
        if process.info["name"] == "postgres" \
                and str(work_dir) in " ".join(process.info["cmdline"] or []):
            ours.add(process.pid)
            with contextlib.suppress(psutil.Error):
                ours.update(child.pid for child in process.children(recursive=True))
    used: dict[int, float] = {}
    for process in psutil.process_iter(attrs=["cpu_times"]):
        if process.pid in ours or process.info["cpu_times"] is None:
            continue
        used[process.pid] = process.info["cpu_times"].user + process.info["cpu_times"].system
    return used


def foreign_share(work_dir: Path, before: dict[int, float], seconds: float) -> float:
    after = foreign_cpu_seconds(work_dir)
    spent = sum(max(0.0, used - before.get(pid, 0.0)) for pid, used in after.items())
    return 100 * spent / max(seconds, 1e-9)


# --------------------------------------------------------------------------- profiling

_PLUMBING = ("<frozen runpy>", "asyncio/", "threading.py", "navixy_panel/__main__.py",
             "navixy_panel/cli/", "aiohttp/web.py", "uvloop/")


def summarize_profile(raw: Path, top: int = 20) -> None:
    self_time: Counter[str] = Counter()
    total_time: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        frames = [frame.replace(str(Path(sys.prefix)), "<venv>").replace(str(REPO), ".")
                  for frame in frames]
        samples += count
        self_time[frames[-1] or "<no Python frame>"] += count
        for frame in set(frames):
            if frame and not any(part in frame for part in _PLUMBING):
                total_time[frame] += count
    if not samples:
        print("  (py-spy recorded no samples)")
        return
    for title, counter in (("self", self_time), ("total (incl. callees)", total_time)):
        print(f"  top frames by {title}, % of {samples} samples:")
        for frame, count in counter.most_common(top):
            print(f"    {100 * count / samples:5.1f}%  {frame}")


# --------------------------------------------------------------------------- report


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Medians:
    rps: float
    p50: float
    p99: float
    errors: int
    service_errors: int
    rounds: int


def medians(rounds: list[Round]) -> dict[tuple[int, str], Medians]:
    grouped: dict[tuple[int, str], list[Round]] = {}
    for r in rounds:
        grouped.setdefault((r.connections, r.workload), []).append(r)
    return {key: Medians(median([r.rps for r in group]), median([r.p50_ms for r in group]),
                         median([r.p99_ms for r in group]), sum(r.errors for r in group),
                         sum(r.service_errors for r in group), len(group))
            for key, group in grouped.items()}


def print_round_header() -> None:
    print(f"{'round':>5} {'conns':>5} {'workload':<8} {'req/s':>9} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'errors':>7} {'svc err':>7}", flush=True)
    print("(errors: what wrk saw, answers not 200 with \"success\":true and socket errors; "
          "svc err: non-success answers the service counted in its /metrics, those to "
          "requests wrk gave up on at the end of the round included; - for B0 and B1)")


def print_round(r: Round) -> None:
    notes = []
    if r.bad:
        notes.append(f"non-200/unsuccessful: {r.bad_kinds}; first: {r.first_bad[:160]}")
    if r.socket_errors:
        notes.append(f"{r.socket_errors} socket errors/time-outs")
    if r.service_failed:
        notes.append("the service counted " + ", ".join(
            f"{count} × {kind}" for kind, count in r.service_failed.most_common()))
    if r.primed_seconds is not None:
        notes.append(f"caches primed in {r.primed_seconds:.1f} s")
    if r.churn is not None:
        notes.append(churn_note(r.churn))
    service = str(r.service_errors) if r.workload.startswith("W") else "-"
    print(f"{r.index:>5} {r.connections:>5} {r.workload:<8} {r.rps:>9.1f} {r.p50_ms:>8.2f} "
          f"{r.p99_ms:>8.2f} {r.errors:>7} {service:>7}"
          + (f"  {' | '.join(notes)}" if notes else ""), flush=True)


@dataclass
class Target:
    name: str
    value: str
    passed: bool | None  # None: not evaluated


def evaluate(args: argparse.Namespace, table: dict[tuple[int, str], Medians],
             connections: list[int], total_bad: int, total_socket: int, churn_failed: int,
             service_failed: int, peaks_mb: dict[str, float]) -> list[Target]:
    targets: list[Target] = []
    for c in connections:
        m = {w: table[(c, w)] for w in WORKLOADS if (c, w) in table}
        w1, w2, w3, w4, b0, b1 = (m[w] for w in WORKLOADS)
        targets += [
            Target(f"W3 req/s ≥ 0.9 × W2 (c={c})", f"{w3.rps / w2.rps:.2f} × W2",
                   w3.rps >= 0.9 * w2.rps),
            Target(f"W3 p99 ≤ 2 × W2 p99 (c={c})",
                   f"{w3.p99:.1f} ms = {w3.p99 / w2.p99:.2f} × W2 p99",
                   w3.p99 <= 2 * w2.p99),
            Target(f"W4 req/s ≥ 1.0 × B1 (c={c})", f"{w4.rps / b1.rps:.2f} × B1",
                   w4.rps >= b1.rps),
            Target(f"W1 req/s ≥ 0.55 × B0 (c={c})", f"{w1.rps / b0.rps:.2f} × B0",
                   w1.rps >= 0.55 * b0.rps),
        ]
    targets.append(Target("zero non-200 answers",
                          f"wrk: {total_bad} bad answers, {total_socket} socket errors; "
                          f"{churn_failed} failed churn calls; services counted "
                          f"{service_failed} non-success answers in all",
                          not (total_bad or total_socket or churn_failed or service_failed)))
    worst = max(peaks_mb.values()) if peaks_mb else float("nan")
    targets.append(Target(f"peak RSS ≤ {RSS_LIMIT_MB} MB per service process",
                          ", ".join(f"{name} {mb:.0f} MB" for name, mb in peaks_mb.items()),
                          worst <= RSS_LIMIT_MB))
    if args.big:
        c = connections[0]
        w2 = table[(c, "W2")].rps
        if args.small_w2:
            targets.append(Target(f"--big: W2 ≥ 0.9 × small W2 (c={c})",
                                  f"{w2:.0f} req/s = {w2 / args.small_w2:.2f} × "
                                  f"{args.small_w2:.0f}", w2 >= 0.9 * args.small_w2))
        else:
            targets.append(Target(f"--big: W2 ≥ 0.9 × small W2 (c={c})",
                                  f"W2 {w2:.0f} req/s; give --small-w2 RPS of a run without "
                                  "--big to compare", None))
    return targets


def print_summary(args: argparse.Namespace, table: dict[tuple[int, str], Medians],
                  connections: list[int]) -> None:
    print(f"\nmedians over {args.rounds} rounds of {args.duration:g} s, wrk -t{THREADS}:")
    for c in connections:
        b0, b1 = table[(c, "B0")].rps, table[(c, "B1")].rps
        print(f"\n{c} connections")
        print(f"{'workload':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
              f"{'svc err':>7} {'×B0':>6} {'×B1':>6}  what")
        for w in WORKLOADS:
            m = table[(c, w)]
            service = str(m.service_errors) if w.startswith("W") else "-"
            print(f"{w:<8} {m.rps:>9.1f} {m.p50:>8.2f} {m.p99:>8.2f} {m.errors:>7} "
                  f"{service:>7} {m.rps / b0:>6.3f} {m.rps / b1:>6.3f}  {DESCRIPTIONS[w]}")
        print("(req/s, p50, p99: medians of the rounds; errors: sums)")


# --------------------------------------------------------------------------- the run


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each workload (3)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round (10)")
    parser.add_argument("--connections", default="64",
                        help="wrk connections, comma-separated: 64,256 runs both (64)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of unmeasured load on each server first (2)")
    parser.add_argument("--big", action="store_true",
                        help=f"filler dealers and gateways up to ~{BIG_TOTAL_GATEWAYS:,} "
                        "gateways")
    parser.add_argument("--small-w2", type=float, metavar="RPS",
                        help="with --big: the W2 req/s of a run without it, for the target")
    parser.add_argument("--database-url", metavar="URL",
                        help="a PostgreSQL server to use instead of the embedded one; a "
                        "throwaway database is created on it and dropped at the end")
    parser.add_argument("--seed", type=int, default=20261121, help="random seed of the data")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="one extra round of each --profile-workloads under py-spy, "
                        "collapsed stacks written to DIR")
    parser.add_argument("--profile-workloads", default="W4",
                        help="workloads to profile with --profile (W4)")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    parser.add_argument("--pgbouncer", action="store_true",
                        help="the services reach PostgreSQL through PgBouncer in transaction "
                        "mode (LISTEN directly)")
    parser.add_argument("--pgbouncer-pool", type=int, default=PGBOUNCER_POOL, metavar="N",
                        help=f"PgBouncer's server connections (default {PGBOUNCER_POOL})")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp folder (logs, hash files; not the database)")
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be at least 3")
    if args.duration < 1:
        parser.error("--duration must be at least 1 second")
    try:
        args.connection_counts = [int(part) for part in args.connections.split(",")]
    except ValueError:
        parser.error("--connections takes numbers, e.g. 64,256")
    if any(c < THREADS for c in args.connection_counts):
        parser.error(f"--connections must be at least {THREADS}")
    args.profiled = [w.strip().upper() for w in args.profile_workloads.split(",") if w.strip()]
    if any(w not in WORKLOADS for w in args.profiled):
        parser.error(f"--profile-workloads takes some of {', '.join(WORKLOADS)}")
    return args


def child_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items()
            if not name.startswith("NAVIXY_PANEL_") and name != "DATABASE_URL"}


def start_service(processes: Processes, name: str, db: Database, key: str, work_dir: Path,
                  extra: dict[str, str]) -> tuple[subprocess.Popen[Any], str]:
    port = free_port()
    env = {**child_env(), "DATABASE_URL": db.url, "NAVIXY_PANEL_SECRET_KEY": key,
           "NAVIXY_PANEL_DATA_DIR": str(work_dir / f"{name}-data"),
           "NAVIXY_PANEL_LOG_LEVEL": "WARNING",
           "NAVIXY_PANEL_LOGIN_FAILURES_PER_LOGIN": "1000000",
           "NAVIXY_PANEL_LOGIN_FAILURES_PER_ADDRESS": "1000000",
           "PYTHONUNBUFFERED": "1", **extra}
    process = processes.start(name, [sys.executable, "-m", "navixy_panel", "serve", "--port",
                                     str(port), "--no-migrate"], env)
    url = f"http://127.0.0.1:{port}"
    wait_for_health(url, process, processes.log(name))
    return process, url


_REQUESTS = re.compile(r'^navixy_panel_requests_total\{([^}]*)\} ([\d.e+]+)$', re.MULTILINE)
_LABEL = re.compile(r'(\w+)="([^"]*)"')
_CHECKED_OUT = re.compile(r"^navixy_panel_db_pool_checked_out(?:\{[^}]*\})? ([\d.e+]+)$",
                          re.MULTILINE)


# "2026-11-21 15:29:44,483 ERROR logger [request id] message": level, logger, message.
_LOG_LINE = re.compile(r"^\S+ \S+ ((?:WARNING|ERROR|CRITICAL) \S+) (?:\[\w+\] )?")
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Timeout\w*)\b")


def scrape(url: str) -> tuple[Counter[str], float]:
    """From the service's /metrics: its Navixy-face answers other than success (code 0),
    by action and code, and the database connections checked out now."""
    status, body = http(url + "/metrics", timeout=10)
    if status != 200:
        raise BenchError(f"{url}/metrics answered {status}")
    text = body.decode(errors="replace")
    failed: Counter[str] = Counter()
    for labels, count in _REQUESTS.findall(text):
        values = dict(_LABEL.findall(labels))
        if values.get("face") == "navixy" and values.get("code") != "0":
            failed[f"{values.get('action')} code {values.get('code')}"] += int(float(count))
    checked_out = _CHECKED_OUT.search(text)
    return failed, float(checked_out.group(1)) if checked_out else 0.0


def drained(url: str, timeout: float = 15.0) -> Counter[str]:
    """After a round: waits until the requests wrk left behind have finished (no database
    connection checked out twice in a row), then returns `scrape`'s failures."""
    deadline, idle = time.monotonic() + timeout, 0
    while True:
        failed, checked_out = scrape(url)
        idle = idle + 1 if checked_out == 0 else 0
        if idle >= 2 or time.monotonic() > deadline:
            return failed
        time.sleep(0.2)


def service_findings(processes: Processes, names: list[str], urls: dict[str, str]) -> int:
    """Non-success answers counted by the services' /metrics (returned: their number), and
    what the services logged."""
    total = 0
    for name in names:
        failed, _ = scrape(urls[name])
        total += sum(failed.values())
        print(f"{name}: non-success Navixy answers by its /metrics: "
              + (", ".join(f"{count} × {kind}" for kind, count in failed.most_common())
                 or "none"))
        lines = processes.log(name).read_text(errors="replace").splitlines() \
            if processes.log(name).exists() else []
        logged = Counter(_LOG_LINE.sub(r"\1: ", line)[:200] for line in lines
                         if _LOG_LINE.match(line))
        raised = Counter(line[:200] for line in lines if _EXCEPTION.match(line))
        if logged:
            print(f"{name}: logged {sum(logged.values())} warnings/errors, most common:")
            for text, count in logged.most_common(5):
                print(f"    {count:>6} × {text}")
            for text, count in raised.most_common(5):
                print(f"    {count:>6} × traceback ending in {text}")
        else:
            print(f"{name}: logged no warnings or errors")
    return total


def benchmark(args: argparse.Namespace, work_dir: Path, processes: Processes) -> int:
    wrk = ensure_wrk()
    failures: list[str] = []
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start",
          flush=True)
    with database(args, work_dir) as db:
        print(f"database: {db.label}", flush=True)
        from navixy_panel.db.migrate import upgrade

        upgrade(db.url)
        started = time.monotonic()
        platform = asyncio.run(seed(db.dsn, big=args.big, rng_seed=args.seed))
        print(f"seeded {platform.dealers:,} dealers, {platform.gateways:,} gateways "
              f"({SUB_DEALERS:,} sub-dealers: {platform.bound_own:,} bound to an own gateway, "
              f"{platform.bound_leased:,} to a parent's leasable, the rest unbound) in "
              f"{time.monotonic() - started:.1f} s", flush=True)
        plan = asyncio.run(explain_list(db.dsn, *platform.sample_dealer))
        print("plan of the list query for a sub-dealer:\n    " + "\n    ".join(plan),
              flush=True)

        sampler = RssSampler()
        through = contextlib.ExitStack()
        try:  # every process is stopped before the database is
            pooler = through.enter_context(pooled(args, db))
            key = Fernet.generate_key().decode()
            service_on, on_url = start_service(processes, "service-cache-on", db, key,
                                               work_dir, pooler)
            service_off, off_url = start_service(processes, "service-cache-off", db, key,
                                                 work_dir, {**pooler, "NAVIXY_PANEL_CACHE": "off"})
            sampler.watch("caches on", service_on.pid)
            sampler.watch("caches off", service_off.pid)
            sampler.start()
            print(f"services: caches on pid {service_on.pid} {on_url}, caches off pid "
                  f"{service_off.pid} {off_url}", flush=True)

            started = time.monotonic()
            hashes_by_login = asyncio.run(log_in_all([on_url, off_url],
                                                         platform.pool_logins))
            logins = platform.pool_logins
            hashes = [hashes_by_login[login] for login in logins]
            print(f"{len(hashes):,} sessions by account/auth in "
                  f"{time.monotonic() - started:.1f} s", flush=True)
            pool_file = work_dir / "hashes.txt"
            pool_file.write_text("\n".join(hashes) + "\n")
            churn_file = work_dir / "churn-logins.txt"
            churn_file.write_text("\n".join(platform.churn_logins) + "\n")

            b1_port = free_port()
            b1 = processes.start("b1", [sys.executable, str(HERE / "b1_server.py"),
                                        str(b1_port)], {**child_env(), "BENCH_DSN": db.dsn})
            b1_url = f"http://127.0.0.1:{b1_port}"
            wait_for_health(b1_url, b1, processes.log("b1"))
            sampler.watch("B1", b1.pid)

            print("correctness gate: every session's list, service vs B1", flush=True)
            services = {"caches-on": on_url, "caches-off": off_url}
            mismatches, bodies = correctness_gate("before the rounds", services, b1_url,
                                                  logins, hashes)
            failures += mismatches
            if mismatches:
                for line in mismatches:
                    print(f"  MISMATCH {line}", flush=True)

            by_size = sorted(hashes, key=lambda h: (len(bodies[h]), h))
            typical = by_size[len(by_size) // 2]
            body_file = work_dir / "typical-list.json"
            body_file.write_bytes(bodies[typical])
            one_file = work_dir / "one-hash.txt"
            one_file.write_text(typical + "\n")
            sizes = [len(body) for body in bodies.values()]
            print(f"list bodies: {min(sizes)}-{max(sizes)} bytes, median {len(bodies[typical])}"
                  f" (B0 answers that one; W1 repeats its hash)", flush=True)

            b0_port = free_port()
            b0 = processes.start("b0", [sys.executable, str(HERE / "b0_server.py"),
                                        str(b0_port), str(body_file)], child_env())
            b0_url = f"http://127.0.0.1:{b0_port}"
            wait_for_health(b0_url, b0, processes.log("b0"))
            sampler.watch("B0", b0.pid)

            targets_url = {"W1": on_url, "W2": on_url, "W3": on_url, "W4": off_url,
                           "B0": b0_url, "B1": b1_url}
            files = {w: (one_file if w == "W1" else pool_file) for w in WORKLOADS}
            rounds: list[Round] = []
            churn_runs = 0

            def one_round(workload: str, index: int, connections: int,
                          duration: float) -> Round:
                nonlocal churn_runs
                primed = None
                if workload in PRIMED:
                    primed = prime(on_url, hashes, failures)
                churn = None
                if workload == "W3":
                    churn_runs += 1
                    churn = ChurnProcess(processes, child_env(), on_url, pool_file, churn_file,
                                         args.seed + churn_runs)
                url = targets_url[workload]
                is_service = url in (on_url, off_url)
                before = drained(url) if is_service else Counter()
                try:
                    result = run_wrk(wrk, workload, index, connections, url, files[workload],
                                     duration)
                finally:
                    churned = churn.finish() if churn is not None else None
                result.churn, result.primed_seconds = churned, primed
                if is_service:
                    result.service_failed = drained(url) - before
                return result

            for connections in args.connection_counts:
                if args.warmup > 0:
                    warm = [run_wrk(wrk, f"warm-{w}", 0, connections, targets_url[w],
                                    pool_file, args.warmup) for w in ("W2", "W4", "B0", "B1")]
                    for r in warm:
                        if r.errors:
                            print(f"warm-up {r.workload} at {connections} connections: "
                                  f"{r.bad} bad answers ({r.bad_kinds}), {r.socket_errors} "
                                  f"socket errors; first: {r.first_bad[:160]}", flush=True)
                print(f"\nwrk -t{THREADS} -c{connections} -d{args.duration:g}s, workloads "
                      f"alternating {' '.join(WORKLOADS)}", flush=True)
                print_round_header()
                before, t0 = foreign_cpu_seconds(work_dir), time.monotonic()
                for index in range(1, args.rounds + 1):
                    for workload in WORKLOADS:
                        r = one_round(workload, index, connections, args.duration)
                        rounds.append(r)
                        print_round(r)
                share = foreign_share(work_dir, before, time.monotonic() - t0)
                print(f"other processes used {share:.0f}% of one core during these rounds"
                      + (" (noisy: other work shared the CPUs)" if share > 10 else ""),
                      flush=True)

            if args.profile is not None:
                profile(args, wrk, one_round, {"W": service_on.pid, "W4": service_off.pid},
                        args.connection_counts[0])

            time.sleep(1.0)  # NOTIFY arrives within milliseconds; a second is generous
            print("\ncorrectness gate after the rounds (W3 changed labels, churned sessions)",
                  flush=True)
            mismatches, _ = correctness_gate("after the rounds", services, b1_url, logins,
                                             hashes)
            failures += mismatches
            for line in mismatches:
                print(f"  MISMATCH {line}", flush=True)

            sampler.sample()
            hwm = {name: vm_hwm(pid) for name, pid in
                   (("caches on", service_on.pid), ("caches off", service_off.pid))}
            print()
            service_failed = service_findings(
                processes, ["service-cache-on", "service-cache-off"],
                {"service-cache-on": on_url, "service-cache-off": off_url})
        finally:
            sampler.stop()
            processes.stop_all()
            through.close()

    table = medians(rounds)
    print_summary(args, table, args.connection_counts)
    peaks_mb = {name: sampler.peak.get(name, 0) / 2**20 for name in ("caches on", "caches off")}
    print("\npeak RSS (sampled every 0.5 s): "
          + ", ".join(f"{name} {peak / 2**20:.0f} MB" for name, peak in sampler.peak.items())
          + "; VmHWM of the services: "
          + ", ".join(f"{name} {value / 2**20:.0f} MB" if value else f"{name} ?"
                      for name, value in hwm.items()))
    service_rounds = [r for r in rounds if r.workload.startswith("W")]
    baseline_rounds = [r for r in rounds if not r.workload.startswith("W")]
    total_bad = sum(r.bad for r in service_rounds)
    total_socket = sum(r.socket_errors for r in service_rounds)
    churn_failed = sum(churn_failures(r.churn) for r in rounds)
    baseline_errors: Counter[str] = Counter()
    for r in baseline_rounds:
        baseline_errors[f"{r.workload} c={r.connections}"] += r.errors
    if sum(baseline_errors.values()):
        print("\nWARNING: the baselines failed requests too ("
              + ", ".join(f"{k}: {v}" for k, v in baseline_errors.items() if v)
              + "): B1 answers code 14 when it waits over 2 s for a pooled connection, as "
              "the service should; the host is overloaded at that connection count. "
              "(Not counted as a failure of the run: the run judges the service.)")
    if total_bad or total_socket:
        per: Counter[str] = Counter()
        for r in service_rounds:
            per[f"{r.workload} c={r.connections}"] += r.errors
        failures.append(f"{total_bad} answers not 200 with success and {total_socket} socket "
                        f"errors ({', '.join(f'{k}: {v}' for k, v in per.items() if v)})")
    if churn_failed:
        failures.append(f"{churn_failed} churn calls failed")
    if service_failed:
        failures.append(f"the services counted {service_failed} non-success answers "
                        "(see their /metrics and logs above)")
    targets = evaluate(args, table, args.connection_counts, total_bad, total_socket,
                       churn_failed, service_failed, peaks_mb)
    print("\ntargets")
    width = max(len(t.name) for t in targets)
    for t in targets:
        verdict = "n/a" if t.passed is None else ("PASS" if t.passed else "MISS")
        print(f"  {t.name:<{width}}  {verdict:<4}  {t.value}")
    if args.big:
        print(f"  (W2 at {args.connection_counts[0]} connections with --big: "
              f"{table[(args.connection_counts[0], 'W2')].rps:.1f} req/s)")

    if failures:
        print("\nbenchmark FAILED:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    if args.strict and any(t.passed is False for t in targets):
        print("\ntargets missed (--strict)", file=sys.stderr)
        return 2
    return 0


def profile(args: argparse.Namespace, wrk: str, one_round: Callable[..., Round],
            pids: dict[str, int], connections: int) -> None:
    py_spy = shutil.which("py-spy") or shutil.which("py-spy",
                                                    path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise BenchError("--profile needs py-spy: pip install py-spy")
    args.profile.mkdir(parents=True, exist_ok=True)
    for workload in args.profiled:
        pid = pids["W4"] if workload == "W4" else pids["W"]
        if workload in ("B0", "B1"):
            print(f"(not profiling {workload}: only the service is profiled)")
            continue
        raw = args.profile / f"{workload}.collapsed"
        seconds = max(1, int(args.duration) - 1)
        recorder = subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
             "--format", "raw", "--nonblocking", "-o", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            r = one_round(workload, 0, connections, args.duration)
        finally:
            _, err = recorder.communicate(timeout=120)
        print(f"\nprofile of one {workload} round at {connections} connections (py-spy "
              f"--nonblocking, 200 Hz): {r.rps:.0f} req/s, {r.errors} errors; stacks in {raw}")
        if recorder.returncode != 0:
            print(f"  py-spy failed: {err.decode(errors='replace')[-500:]}")
            continue
        summarize_profile(raw)


def main() -> int:
    args = parse_args()

    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with it ignored
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    from navixy_panel.db.embedded import stop_orphans

    stop_orphans(TEMP_PREFIX)  # servers of an earlier run that was killed outright
    work_dir = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    processes = Processes(work_dir)
    status = 1
    try:
        status = benchmark(args, work_dir, processes)
    except BenchError as exc:
        print(f"\nbenchmark FAILED: {exc}", file=sys.stderr)
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"\ninterrupted ({str(exc) or 'Ctrl-C'}); cleaning up", file=sys.stderr)
        status = 130
    except Exception:
        traceback.print_exc()
        print("\nbenchmark FAILED: unexpected error (above)", file=sys.stderr)
    finally:
        processes.stop_all()
        if args.keep:
            shutil.rmtree(work_dir / "db", ignore_errors=True)
            print(f"kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
