"""Throughput and latency of `gateways/email/list`, against a bare aiohttp baseline.

Why: the list is the call Navixy's admin panel makes on every visit to the gateways
page, and the work the service adds over a plain aiohttp handler is one transaction
with a session lookup and a visibility query. This script puts a number on that cost
(req/s ratio service/bare), on latency (p50/p99) and on memory (peak RSS), and shows
whether the indexes hold with a big table (`--big`) and whether argon2 logins running
beside the list hurt its tail latency (`--auth-load N`).

What it does, all in throwaway temp folders, nothing left behind:

1. starts `python -m navixy_panel serve` with its embedded PostgreSQL;
2. creates a parent dealer with 10 leasable gateways and a child dealer with 10 own
   gateways, bound to one of them (the CLI for dealers, SQL for gateways), plus with
   `--big` 100,000 filler dealers and 1,000,000 filler gateways; logs in as the child;
3. starts `benchmarks/bare_server.py` answering the same path with the same bytes;
4. runs wrk (64 connections, 2 threads) in alternating rounds A (service) and
   B (bare server), and fails if any response was not a 2xx or wrk saw socket errors;
5. prints a row per round, the median req/s ratio A/B and the service's peak RSS;
6. stops both servers with SIGTERM (the service then stops its PostgreSQL).

Run from the repository root with the project's virtualenv:

    python benchmarks/list_throughput.py                      # 3 A + 3 B rounds of 10 s
    python benchmarks/list_throughput.py --duration 3         # quick look
    python benchmarks/list_throughput.py --big                # 1M gateways (+1-2 min seeding)
    python benchmarks/list_throughput.py --auth-load 10       # extra A rounds beside 10 logins/s
    python benchmarks/list_throughput.py --profile /tmp/prof  # + py-spy of one A round
    python benchmarks/list_throughput.py --env NAVIXY_PANEL_CACHE=off  # service settings

wrk comes from the Debian package `wrk`; it is installed with apt-get if missing.
Exit status: 0 on success, 1 on any failure (the reason is printed last).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import psutil

HERE = Path(__file__).resolve().parent
LIST_PATH = "/v2/panel/gateways/email/list"
AUTH_PATH = "/v2/panel/account/auth"
PASSWORD = "benchmark-password"
CONNECTIONS, THREADS = 64, 2
SERVICE_START_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
FILLER_DEALERS, FILLER_GATEWAYS = 100_000, 1_000_000


class BenchError(Exception):
    """A failure that ends the run with status 1 and this message."""


# --------------------------------------------------------------------------- processes


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


def wait_for_health(url: str, process: subprocess.Popen[bytes], log_path: Path,
                    timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{process.args!r} exited with status {process.returncode} "
                             f"before answering /health:\n{tail(log_path)}")
        with contextlib.suppress(OSError):
            status, _ = http(url + "/health", timeout=2)
            if status == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"{url}/health did not answer within {timeout:.0f} s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_process(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)


def stop_process(process: subprocess.Popen[bytes] | None, name: str) -> None:
    """SIGTERM and wait; SIGKILL only if it does not exit in STOP_TIMEOUT seconds."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"WARNING: {name} (pid {process.pid}) ignored SIGTERM for {STOP_TIMEOUT:.0f} s; "
              "killing it", file=sys.stderr)
        process.kill()
        process.wait()


def leftover_postgres(pgdata: Path) -> list[psutil.Process]:
    """PostgreSQL postmasters still serving `pgdata` (there should be none)."""
    found = []
    for process in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and str(pgdata) in " ".join(cmdline):
            found.append(process)
    return found


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
        raise BenchError("`apt-get install -y wrk` failed (not root? no network?); "
                         "install wrk yourself and run again")
    return found


# --------------------------------------------------------------------------- the service


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    env: dict[str, str]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> dict[str, object]:
        """`python -m navixy_panel ARGS` against the running service's database."""
        done = subprocess.run([sys.executable, "-m", "navixy_panel", *args], env=self.env,
                              capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise BenchError(f"navixy_panel {' '.join(args)} failed ({done.returncode}):\n"
                             f"{done.stderr.strip()}")
        result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def postgres_dsn(self) -> str:
        """The embedded server's unix socket, read from its postmaster.pid."""
        pgdata = self.data_dir / "pgdata"
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        port = lines[3].strip() if len(lines) > 3 else "5432"
        socket_dir = lines[4].strip() if len(lines) > 4 and lines[4].strip() else str(pgdata)
        return f"postgresql://postgres@/postgres?host={socket_dir}&port={port}"


def start_service(work_dir: Path, extra_env: dict[str, str]) -> Service:
    data_dir = work_dir / "data"
    data_dir.mkdir()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("NAVIXY_PANEL_") and name != "DATABASE_URL"}
    env.update(NAVIXY_PANEL_DATA_DIR=str(data_dir), NAVIXY_PANEL_LOG_LEVEL="WARNING",
               PYTHONUNBUFFERED="1")
    env.update(extra_env)
    port = free_port()
    log_path = work_dir / "service.log"
    process = start_process([sys.executable, "-m", "navixy_panel", "serve", "--port", str(port)],
                            env, log_path)
    service = Service(process, port, data_dir, env, log_path)
    wait_for_health(service.url, process, log_path, SERVICE_START_TIMEOUT)
    return service


def gateway_params() -> str:
    from navixy_panel.smtp_params import PASSWORD as PASSWORD_KEY
    from navixy_panel.smtp_params import SmtpParamsSchema

    params = SmtpParamsSchema().load({"mail.smtp.host": "smtp.example.com"})
    params.pop(PASSWORD_KEY)
    return json.dumps(params)


async def seed_gateways(dsn: str, *, parent_id: int, child_id: int, big: bool) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        params = gateway_params()
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO email_gateways (owner_id, label, provider, leasable, params) "
                "SELECT $1, 'Parent relay ' || g, 'smtp', true, $2::jsonb "
                "FROM generate_series(1, 10) g", parent_id, params)
            own = await connection.fetch(
                "INSERT INTO email_gateways (owner_id, label, provider, leasable, params) "
                "SELECT $1, 'Own SMTP ' || g, 'smtp', false, $2::jsonb "
                "FROM generate_series(1, 10) g RETURNING id", child_id, params)
            await connection.execute("UPDATE dealers SET bound_gateway_id = $1 WHERE id = $2",
                                     min(row["id"] for row in own), child_id)
        if big:
            await seed_filler(connection, parent_id, params)
        await connection.execute("ANALYZE")
        dealers, gateways = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM dealers), (SELECT count(*) FROM email_gateways)")
        print(f"seeded: {dealers} dealers, {gateways} gateways", flush=True)
        plan = await connection.fetch(
            "EXPLAIN (COSTS OFF) SELECT id, owner_id, label, provider, leasable, params "
            "FROM email_gateways WHERE owner_id = $1 OR (owner_id = $2 AND leasable) ORDER BY id",
            child_id, parent_id)
        print("plan of the list query:\n  " + "\n  ".join(row[0] for row in plan), flush=True)
    finally:
        await connection.close()


async def seed_filler(connection: asyncpg.Connection, parent_id: int, params: str) -> None:
    """100k dealers (every 20th a child of the parent, so it has many siblings of the
    child) owning 1M gateways, a quarter of them leasable: without the indexes the list
    would scan them all."""
    started = time.monotonic()
    await connection.execute(
        "INSERT INTO dealers (login, password_hash, title, parent_id) "
        "SELECT 'filler-' || g, 'not-a-hash', 'Filler ' || g, "
        "       CASE WHEN g % 20 = 0 THEN $1::bigint END "
        "FROM generate_series(1, $2::int) g", parent_id, FILLER_DEALERS)
    print(f"  {FILLER_DEALERS} filler dealers in {time.monotonic() - started:.1f} s", flush=True)
    started = time.monotonic()
    await connection.execute(
        "WITH filler AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n "
        "                FROM dealers WHERE login LIKE 'filler-%') "
        "INSERT INTO email_gateways (owner_id, label, provider, leasable, params) "
        "SELECT filler.id, 'Filler gateway ' || g, 'smtp', g % 4 = 0, $1::jsonb "
        "FROM generate_series(0, $2::int - 1) g JOIN filler ON filler.n = g % $3::int",
        params, FILLER_GATEWAYS, FILLER_DEALERS)
    print(f"  {FILLER_GATEWAYS} filler gateways in {time.monotonic() - started:.1f} s",
          flush=True)


def log_in(base_url: str, login: str, password: str) -> str:
    form = urllib.parse.urlencode({"login": login, "password": password}).encode()
    status, body = http(base_url + AUTH_PATH, data=form)
    answer = json.loads(body)
    if status != 200 or not answer.get("success"):
        raise BenchError(f"account/auth as {login!r} answered {status}: {body[:300]!r}")
    session_hash: str = answer["hash"]
    return session_hash


def fetch_list(base_url: str, session_hash: str) -> bytes:
    status, body = http(base_url + LIST_PATH, data=b"",
                        headers={"Authorization": f"NVX {session_hash}"})
    if status != 200 or not json.loads(body).get("success"):
        raise BenchError(f"{LIST_PATH} answered {status}: {body[:300]!r}")
    return body


# --------------------------------------------------------------------------- wrk

LUA_TEMPLATE = """
wrk.method = "POST"
wrk.headers["Authorization"] = "NVX %(hash)s"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH p50_us=%%d p99_us=%%d status=%%d connect=%%d read=%%d write=%%d timeout=%%d "
    .. "requests=%%d duration_us=%%d\\n",
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99)), e.status,
    e.connect, e.read, e.write, e.timeout, summary.requests, summary.duration))
end
"""


@dataclass
class Round:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    # Non-2xx answers, socket errors, timeouts: the round is printed, then the run fails.
    problems: list[str] = field(default_factory=list)


def run_wrk(wrk: str, label: str, url: str, lua: Path, duration: float) -> Round:
    command = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration:g}s", "--timeout", "5s",
               "-s", str(lua), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60,
                          check=False)
    output = done.stdout
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}) on {url}:\n{output}{done.stderr}")
    stats = re.search(r"^BENCH (.*)$", output, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if stats is None or rps is None:
        raise BenchError(f"cannot read wrk's output for {url}:\n{output}{done.stderr}")
    values = {key: int(value) for key, value in
              (pair.split("=") for pair in stats.group(1).split())}
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors:.*", output)
    problems = []
    if non_2xx or values["status"]:
        problems.append(f"{non_2xx.group(1) if non_2xx else values['status']} responses "
                        "were not 2xx")
    if socket_errors or any(values[key] for key in ("connect", "read", "write", "timeout")):
        problems.append(socket_errors.group(0) if socket_errors else f"socket errors {values}")
    if values["requests"] == 0:
        problems.append("no request completed")
    if problems:
        print(f"wrk output of the failed round:\n{output}", file=sys.stderr)
    return Round(label, float(rps.group(1)), values["p50_us"] / 1000, values["p99_us"] / 1000,
                 values["requests"], problems)


def check(rounds: list[Round]) -> None:
    """Fails the run if any round saw a problem (after its figures were printed)."""
    failed = [f"{r.label}: {'; '.join(r.problems)}" for r in rounds if r.problems]
    if failed:
        raise BenchError("rounds with failed requests: " + " | ".join(failed))


def print_header() -> None:
    print(f"{'round':<8} {'label':<8} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9}")


def print_round(index: int, result: Round) -> None:
    print(f"{index:<8} {result.label:<8} {result.rps:>10.1f} {result.p50_ms:>8.2f} "
          f"{result.p99_ms:>8.2f} {result.requests:>9}"
          + (f"  FAILED: {'; '.join(result.problems)}" if result.problems else ""), flush=True)


# --------------------------------------------------------------------------- memory


class RssSampler(threading.Thread):
    """Peak RSS of the service process (and of its non-postgres children) per phase."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.process = psutil.Process(pid)
        self.interval = interval
        self.phase = "idle"
        self.peak_server: dict[str, int] = {}
        self.peak_total: dict[str, int] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        try:
            server = self.process.memory_info().rss
            children = 0
            for child in self.process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if child.name() != "postgres":
                        children += child.memory_info().rss
        except psutil.Error:
            return
        phase = self.phase
        self.peak_server[phase] = max(self.peak_server.get(phase, 0), server)
        self.peak_total[phase] = max(self.peak_total.get(phase, 0), server + children)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def foreign_cpu_seconds(pgdata: Path) -> dict[int, float]:
    """CPU seconds so far of every process that is not this benchmark's: not this process
    or its descendants, not the PostgreSQL serving `pgdata` (daemonised, so not a child)."""
    ours = {os.getpid()} | {child.pid for child in psutil.Process().children(recursive=True)}
    used: dict[int, float] = {}
    for process in psutil.process_iter(attrs=["name", "cmdline", "cpu_times"]):
        if process.pid in ours or process.info["cpu_times"] is None:
            continue
        if process.info["name"] == "postgres" and str(pgdata) in " ".join(
                process.info["cmdline"] or []):
            continue
        used[process.pid] = process.info["cpu_times"].user + process.info["cpu_times"].system
    return used


def report_foreign_load(before: dict[int, float], after: dict[int, float],
                        seconds: float) -> None:
    spent = sum(max(0.0, used - before.get(pid, 0.0)) for pid, used in after.items())
    share = 100 * spent / seconds
    note = " (noisy: other work shared the CPUs)" if share > 10 else ""
    print(f"other processes used {share:.0f}% of one core during these rounds{note}")


# --------------------------------------------------------------------------- auth load


@dataclass
class AuthLoad:
    """`rate` logins per second, open loop (a slow answer does not delay the next call),
    on an event loop of its own in a thread."""

    url: str
    login: str
    password: str
    rate: float
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    _stop_event: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True,
                                        name="auth-load")
        self._thread.start()

    def stop(self) -> None:
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join()

    async def _run(self) -> None:
        interval = 1 / self.rate
        started = next_at = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as client:
            while not self._stop_event.is_set():
                task = asyncio.create_task(self._one(client))
                pending.add(task)
                task.add_done_callback(pending.discard)
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            self.elapsed = time.monotonic() - started
            if pending:
                await asyncio.gather(*pending)

    async def _one(self, client: aiohttp.ClientSession) -> None:
        started = time.monotonic()
        try:
            async with client.post(self.url + AUTH_PATH,
                                   data={"login": self.login, "password": self.password},
                                   timeout=aiohttp.ClientTimeout(total=30)) as response:
                body = await response.read()
                if response.status != 200 or b'"success":true' not in body:
                    self.failures.append(f"{response.status} {body[:120]!r}")
                    return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.failures.append(repr(exc))
            return
        self.latencies.append(time.monotonic() - started)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


# --------------------------------------------------------------------------- profiling


# Frames under which every request runs; left out of the "total" table.
_PLUMBING = ("<frozen runpy>", "asyncio/", "threading.py", "navixy_panel/__main__.py",
             "navixy_panel/cli.py", "aiohttp/web.py")


def profile_round(wrk: str, service: Service, list_url: str, lua: Path, duration: float,
                  out_dir: Path) -> None:
    """One extra A round under `py-spy record`; prints the top self and total frames."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise BenchError("--profile needs py-spy: pip install py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    raw, svg = out_dir / "list.collapsed", out_dir / "list.svg"
    seconds = max(1, int(duration) - 1)
    recorders = [subprocess.Popen([py_spy, "record", "--pid", str(service.process.pid),
                                   "--duration", str(seconds), "--rate", "200", "--format",
                                   fmt, "-o", str(path)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
                 for fmt, path in (("raw", raw), ("flamegraph", svg))]
    result = run_wrk(wrk, "A+spy", list_url, lua, duration)
    check([result])
    for recorder in recorders:
        _, err = recorder.communicate(timeout=60)
        if recorder.returncode != 0:
            raise BenchError(f"py-spy failed: {err.decode(errors='replace')}")
    print(f"\nprofiled round (two py-spy samplers at 200 Hz slow it down): "
          f"{result.rps:.0f} req/s; flamegraph {svg}")
    self_time: Counter[str] = Counter()
    total_time: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        frames = [frame.replace(str(Path(sys.prefix)), "<venv>") for frame in frames]
        samples += count
        self_time[frames[-1] or "<no Python frame>"] += count
        for frame in set(frames):
            if frame and not any(part in frame for part in _PLUMBING):
                total_time[frame] += count
    for title, counter in (("self", self_time), ("total (incl. callees)", total_time)):
        print(f"top frames by {title}, % of {samples} busy samples:")
        for frame, count in counter.most_common(15):
            print(f"  {100 * count / samples:5.1f}%  {frame}")


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round (10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of A and of B (3, min 3)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of unmeasured load on each server first (2)")
    parser.add_argument("--big", action="store_true",
                        help="also seed 100,000 dealers and 1,000,000 gateways")
    parser.add_argument("--auth-load", type=float, default=0.0, metavar="N",
                        help="extra A rounds beside N account/auth calls per second")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="one extra A round under py-spy; writes DIR/list.svg")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the service, e.g. NAVIXY_PANEL_CACHE=off "
                        "(NAVIXY_PANEL_* and DATABASE_URL of the caller are not passed on)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp folder (database, logs) for inspection")
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be at least 3")
    if args.duration < 1:
        parser.error("--duration must be at least 1 second")
    if any("=" not in item for item in args.env):
        parser.error("--env takes NAME=VALUE")
    if args.auth_load < 0:
        parser.error("--auth-load must not be negative")
    return args


@contextlib.contextmanager
def phase(sampler: RssSampler | None, name: str) -> Iterator[None]:
    if sampler is not None:
        sampler.phase = name
    try:
        yield
    finally:
        if sampler is not None:
            sampler.phase = "idle"


def benchmark(args: argparse.Namespace, wrk: str, work_dir: Path,
              started: dict[str, subprocess.Popen[bytes] | Service]) -> None:
    print(f"starting the service (embedded PostgreSQL in {work_dir / 'data'}) ...", flush=True)
    extra_env = dict(item.split("=", 1) for item in args.env)
    if extra_env:
        print(f"service environment: {extra_env}", flush=True)
    service = start_service(work_dir, extra_env)
    started["service"] = service
    print(f"service pid {service.process.pid} on port {service.port}", flush=True)

    seed_started = time.monotonic()
    parent = service.cli("dealer", "create", "--login", "parent", "--password", PASSWORD,
                         "--permissions", "all")
    child = service.cli("dealer", "create", "--login", "child", "--parent", "parent",
                        "--password", PASSWORD, "--permissions", "all")
    asyncio.run(seed_gateways(service.postgres_dsn(), parent_id=int(str(parent["id"])),
                              child_id=int(str(child["id"])), big=args.big))
    print(f"seeding took {time.monotonic() - seed_started:.1f} s", flush=True)
    session_hash = log_in(service.url, "child", PASSWORD)
    body = fetch_list(service.url, session_hash)
    answer = json.loads(body)
    print(f"list body: {len(body)} bytes, {len(answer['own'])} own, "
          f"{len(answer['leasable'])} leasable, bound {answer['bound_gateway']}", flush=True)
    if len(answer["own"]) != 10 or len(answer["leasable"]) != 10:
        raise BenchError(f"unexpected list: {body[:300]!r}")
    body_file = work_dir / "list-body.json"
    body_file.write_bytes(body)

    bare_port = free_port()
    bare_log = work_dir / "bare.log"
    bare = start_process([sys.executable, str(HERE / "bare_server.py"), str(bare_port),
                          str(body_file)], os.environ.copy(), bare_log)
    started["bare"] = bare
    bare_url = f"http://127.0.0.1:{bare_port}"
    wait_for_health(bare_url, bare, bare_log, 30)
    status, bare_body = http(bare_url + LIST_PATH, data=b"")
    if status != 200 or bare_body != body:
        raise BenchError("the bare server does not answer the same bytes")

    lua = work_dir / "list.lua"
    lua.write_text(LUA_TEMPLATE % {"hash": session_hash})
    targets = [("A", service.url + LIST_PATH), ("B", bare_url + LIST_PATH)]

    sampler = RssSampler(service.process.pid)
    sampler.sample()
    baseline_mb = sampler.peak_server["idle"] / 2**20
    sampler.start()
    try:
        if args.warmup > 0:
            check([run_wrk(wrk, label, url, lua, args.warmup) for label, url in targets])
        print(f"\nwrk -t{THREADS} -c{CONNECTIONS} -d{args.duration:g}s, "
              f"rounds alternate A = service, B = bare aiohttp", flush=True)
        print_header()
        results: list[Round] = []
        pgdata = service.data_dir / "pgdata"
        foreign_before, rounds_started = foreign_cpu_seconds(pgdata), time.monotonic()
        with phase(sampler, "list"):
            for index in range(1, args.rounds + 1):
                for label, url in targets:
                    results.append(run_wrk(wrk, label, url, lua, args.duration))
                    print_round(index, results[-1])
        report_foreign_load(foreign_before, foreign_cpu_seconds(pgdata),
                            time.monotonic() - rounds_started)
        a_rounds = [r for r in results if r.label == "A"]
        b_rounds = [r for r in results if r.label == "B"]
        ratios = [a.rps / b.rps for a, b in zip(a_rounds, b_rounds, strict=True)]
        print(f"\nmedian req/s: A {statistics.median(r.rps for r in a_rounds):.1f}, "
              f"B {statistics.median(r.rps for r in b_rounds):.1f}; "
              f"median ratio A/B {statistics.median(ratios):.3f} "
              f"(per round: {', '.join(f'{ratio:.3f}' for ratio in ratios)})")
        print(f"median p50/p99 ms: A {statistics.median(r.p50_ms for r in a_rounds):.2f}/"
              f"{statistics.median(r.p99_ms for r in a_rounds):.2f}, "
              f"B {statistics.median(r.p50_ms for r in b_rounds):.2f}/"
              f"{statistics.median(r.p99_ms for r in b_rounds):.2f}")
        check(results)

        if args.auth_load > 0:
            print(f"\nA rounds beside {args.auth_load:g} account/auth calls per second:",
                  flush=True)
            print_header()
            load = AuthLoad(service.url, "child", PASSWORD, args.auth_load)
            loaded: list[Round] = []
            foreign_before, rounds_started = foreign_cpu_seconds(pgdata), time.monotonic()
            with phase(sampler, "list+auth"):
                load.start()
                try:
                    time.sleep(1.0)
                    for index in range(1, args.rounds + 1):
                        loaded.append(run_wrk(wrk, "A+auth", targets[0][1], lua, args.duration))
                        print_round(index, loaded[-1])
                finally:
                    load.stop()
            report_foreign_load(foreign_before, foreign_cpu_seconds(pgdata),
                                time.monotonic() - rounds_started)
            idle_p99 = statistics.median(r.p99_ms for r in a_rounds)
            loaded_p99 = statistics.median(r.p99_ms for r in loaded)
            print(f"auth: {len(load.latencies)} logins in {load.elapsed:.1f} s "
                  f"({len(load.latencies) / max(load.elapsed, 1e-9):.1f}/s), latency "
                  f"p50 {1000 * percentile(load.latencies, 0.5):.0f} ms "
                  f"p99 {1000 * percentile(load.latencies, 0.99):.0f} ms")
            print(f"list req/s idle {statistics.median(r.rps for r in a_rounds):.1f}, "
                  f"under {args.auth_load:g} auth/s "
                  f"{statistics.median(r.rps for r in loaded):.1f}")
            print(f"list p99 idle {idle_p99:.2f} ms, under {args.auth_load:g} auth/s "
                  f"{loaded_p99:.2f} ms, ratio {loaded_p99 / idle_p99:.2f}")
            if load.failures:
                raise BenchError(f"{len(load.failures)} account/auth calls failed, "
                                 f"first: {load.failures[0]}")
            check(loaded)

        if args.profile is not None:
            profile_round(wrk, service, targets[0][1], lua, args.duration, args.profile)
    finally:
        sampler.stop()

    print(f"\nservice RSS: {baseline_mb:.1f} MB before the rounds; peak during the list "
          f"rounds {sampler.peak_server.get('list', 0) / 2**20:.1f} MB", end="")
    if "list+auth" in sampler.peak_server:
        print(f", during the auth-load rounds "
              f"{sampler.peak_server['list+auth'] / 2**20:.1f} MB", end="")
    extra = max(sampler.peak_total.values()) - max(sampler.peak_server.values())
    print(f" (python server process; non-postgres children add up to {extra / 2**20:.1f} MB)")
    if fetch_list(service.url, session_hash) != body:
        raise BenchError("the list body changed during the run")
    errors = [line for line in service.log_path.read_text(errors="replace").splitlines()
              if " ERROR " in line or line.startswith("Traceback")]
    if errors:
        print(f"the service logged {len(errors)} errors, first: {errors[0]}")


def main() -> int:
    args = parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="nvx-bench-"))
    started: dict[str, subprocess.Popen[bytes] | Service] = {}
    failed: str | None = None
    try:
        wrk = ensure_wrk()
        benchmark(args, wrk, work_dir, started)
    except BenchError as exc:
        failed = str(exc)
    except KeyboardInterrupt:
        failed = "interrupted"
    finally:
        bare = started.get("bare")
        stop_process(bare if isinstance(bare, subprocess.Popen) else None, "bare server")
        service = started.get("service")
        if isinstance(service, Service):
            stop_process(service.process, "service")
            print(f"service stopped (exit status {service.process.returncode})")
            leaked = leftover_postgres(service.data_dir / "pgdata")
            for process in leaked:
                print(f"WARNING: PostgreSQL pid {process.pid} outlived the service; "
                      "stopping it", file=sys.stderr)
                with contextlib.suppress(psutil.Error):
                    process.send_signal(signal.SIGINT)  # fast shutdown
                    process.wait(30)
            if leaked and failed is None:
                failed = "the embedded PostgreSQL was still running after the service stopped"
        if args.keep:
            print(f"kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    if failed is not None:
        print(f"\nbenchmark FAILED: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
