"""Delivery: navixy-panel end to end against Postfix, a naive sender and the limit.

    python benchmarks/delivery_bench.py [--rounds 3] [--messages 5000] [--sessions 20]
                                        [--backlog 50000] [--quick] [--strict]
                                        [--database-url postgresql://…] [--keep]

Receivers: Postfix's `smtp-sink` on SINKS loopback ports, standing for the dealers'
relays. 1 KB messages; every throughput row sends --messages over --sessions sessions
and is timed until the sinks have all of them (end to end; a relay that has only
queued a message has not delivered it). Rows, alternating in every round, medians:

- L   the limit: smtp-source straight into smtp-sink;
- P1  smtp-source → a private Postfix on loopback (connection caching on, the queue on
      disk; mailbench/postfix.py) → smtp-sink; also its ingest rate (until smtp-source
      had every 250);
- N2  a naive sender of our own (mailbench/naive.py): one new SMTP connection per
      message, one process with --sessions messages in flight;
- N1  navixy-panel end to end: `POST /mail/v1/messages` at full speed over --sessions
      keep-alive connections, for 1,000 dealers leasing 20 gateways of 20 parent dealers
      spread over the sinks (mailbench/service.py), one key of the platform owner;
      also its ingest rate (until the last 202);
- N3  SMTP ingest end to end: smtp-source → navixy-panel's submission listener →
      queue → smtp-sink, same sessions and size; smtp-source has no AUTH, so each of
      its connections passes a loopback forwarder (mailbench/forwarder.py, its own
      process) that logs in with one of four dealers' keys, then copies bytes.

L and P1 split the sessions and messages over one smtp-source per sink (Postfix routes
by recipient domain, so one source per domain spreads the load as the gateways do).
Then, once, against `mailbench/timing_sink.py` on the same ports (it knows which
message arrived when; smtp-sink only counts):

- latency: submissions paced at half of N1's median throughput; p50/p99 from each 202
  to the sink's 250;
- fairness: dealer A's --backlog `bulk` messages are queued with delivery off, delivery
  is started, and once it is draining them dealer B (A's sibling, on the same gateway)
  and dealer C (on another gateway) each submit one `alarm`: their 202 → 250 times;
- kill: --messages submitted at full speed; when the sink has a third of them the
  service gets SIGKILL, is started again, and the run counts acknowledged (202),
  delivered, lost (acknowledged, never delivered: must be 0), duplicates (a token
  received twice) and delivered-without-202 (the submission's answer was lost in the
  kill). The lease is NAVIXY_PANEL_DELIVERY_LEASE=LEASE seconds here, so recovery
  takes seconds, not the default minute.

It prints the ratios N1/P1 and N1/N2, the service's peak RSS, and PostgreSQL's share of
the CPU during the N1 rounds (psutil on the embedded server's processes). Targets
(issue "Delivery"): N1 ≥ 1.0 × P1; N1 ≥ 5 × N2; p99 202→250 ≤ 250 ms at half load;
alarm ≤ 2 s behind the backlog; 0 lost; peak RSS ≤ 300 MB; each printed PASS or MISS.

On a build without the HTTP submission API (the probe gets a 404) the N rows, latency,
fairness and kill are printed as n/a and the other rows still run.

Everything runs in a temporary folder: the embedded PostgreSQL (or a throwaway
database on --database-url's server), the private Postfix (`postfix -c DIR stop` at
the end), the sinks, the senders and the service; all are stopped at the end, on error
and on Ctrl-C. Needs root (Postfix's master) and Debian's `postfix` package.
Exit status: 1 when the run failed (a lost message, a refused submission, a row that
did not complete), 2 with --strict when a target was missed, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

# The checkout this file is in, before any installed copy: the benchmark measures it.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from mailbench import postfix
from mailbench.measure import CpuMeter, CpuWindow, ForeignMeter, percentile
from mailbench.senders import Planned, naive, smtp_source, submit
from mailbench.service import DEALERS, PARENTS, Platform, Service, create_key, seed
from mailbench.sinks import CountingSinks, TimingSink, smtp_tool
from platform_bench import (
    BenchError,
    Interrupted,
    Processes,
    RssSampler,
    child_env,
    database,
    free_port,
    median,
    summarize_profile,
    vm_hwm,
)

TEMP_PREFIX = "nvx-delivery-"
SINKS = 4
ROWS = ("L", "P1", "N2", "N1", "N3")
# N3's dealers: one key each, leasing gateways 1..SINKS (one per sink), so smtp-source's
# sessions spread over the sinks as in the other rows.
N3_DEALERS = tuple(f"dealer-{n:04d}" for n in range(1, SINKS + 1))
LEASE = 10
RSS_LIMIT_MB = 300
DESCRIPTIONS = {
    "L": "smtp-source → smtp-sink (the limit)",
    "P1": "smtp-source → Postfix → smtp-sink",
    "N2": "naive: a new connection per message",
    "N1": "HTTP → navixy-panel → smtp-sink",
    "N3": "smtp-source → (AUTH forwarder) → navixy-panel's SMTP listener → smtp-sink",
}


@dataclass
class Round:
    row: str
    index: int
    messages: int
    seconds: float  # until the sinks had them all
    ingest_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def ingest_rate(self) -> float | None:
        return self.messages / self.ingest_seconds if self.ingest_seconds else None


class Run:
    """What the rows share: the folder, the processes, the sinks, the service."""

    def __init__(self, args: argparse.Namespace, work_dir: Path, processes: Processes) -> None:
        self.args = args
        self.work_dir = work_dir
        self.processes = processes
        self.env = child_env()
        self.sinks = CountingSinks(processes, self.env, SINKS)
        self.service: Service | None = None
        self.platform: Platform | None = None
        self.key = ""
        self.postfix_port = 0
        self.submission_port = free_port()
        self.forwarders: list[int] = []
        self.rounds: list[Round] = []
        self.n1_cpu = CpuWindow()
        self.sampler = RssSampler()
        self.failures: list[str] = []
        self.findings: dict[str, Any] = {}

    @property
    def timeout(self) -> float:
        return self.args.timeout

    def wait_at_sinks(self, row: str, base: int, count: int, started: float) -> float:
        total = self.sinks.wait_for(base + count, time.monotonic() + self.timeout)
        if total < base + count:
            detail = f"\n{postfix.log_tail(self.work_dir)}" if row == "P1" else ""
            raise BenchError(f"{row}: the sinks had {total - base} of {count} messages after "
                             f"{self.timeout:.0f} s{detail}")
        return time.monotonic() - started

    # ----------------------------------------------------------------- throughput rows

    def row(self, row: str, index: int, messages: int) -> Round:
        sessions = self.args.sessions
        base = self.sinks.total()
        started = time.monotonic()
        ingest = None
        if row == "L":
            targets = [(port, f"s{i}.sink.test") for i, port in enumerate(self.sinks.ports)]
            ingest = smtp_source(self.processes, self.env, "source-L", targets, messages,
                                 sessions, self.timeout)
        elif row == "P1":
            targets = [(self.postfix_port, postfix.sink_domain(i)) for i in range(SINKS)]
            ingest = smtp_source(self.processes, self.env, "source-P1", targets, messages,
                                 sessions, self.timeout)
        elif row == "N2":
            naive(self.processes, self.env, messages, sessions, self.sinks.ports, self.timeout)
        elif row == "N3":
            targets = [(port, "n3.sink.test") for port in self.forwarders]
            ingest = smtp_source(self.processes, self.env, "source-N3", targets, messages,
                                 sessions, self.timeout)
            seconds = self.wait_at_sinks(row, base, messages, started)
            return Round(row, index, messages, seconds, ingest)
        else:
            return self.n1(index, messages)
        seconds = self.wait_at_sinks(row, base, messages, started)
        if row == "P1" and not postfix.queue_empties(self.work_dir):
            raise BenchError("P1: Postfix's queue still holds messages 10 s after the sinks "
                             f"had them all\n{postfix.log_tail(self.work_dir)}")
        return Round(row, index, messages, seconds, ingest if row == "P1" else None)

    def n1(self, index: int, messages: int) -> Round:
        assert self.service is not None and self.platform is not None
        dealers = self.platform.dealer_ids
        plan = [Planned(f"n1-{index}-{n}", dealers[n % len(dealers)]) for n in range(messages)]
        base = self.sinks.total()
        meter = CpuMeter(self.work_dir, self.service.process.pid if self.service.process
                         else None)
        result = asyncio.run(submit(self.service.url, self.key, plan, self.args.sessions))
        if result.refused:
            self.failures.append(f"N1 round {index}: {sum(result.refused.values())} "
                                 f"submissions refused ({dict(result.refused)}); first: "
                                 f"{result.first_refusal}")
        acknowledged = len(result.acknowledged)
        sample = random.Random(index).sample(sorted(result.message_ids.values()),
                                             min(5, len(result.message_ids)))
        try:
            seconds = self.wait_at_sinks("N1", base, acknowledged, result.started)
        except BenchError as exc:
            states = self.service.statuses(self.key, sample, within=0)
            raise BenchError(f"{exc}; some of its messages by GET /mail/v1/messages/ID: "
                             + "; ".join(f"{k}: {v}" for k, v in states.items())) from None
        if index:  # not the warm-up
            self.n1_cpu.add(meter.stop())
        # The service's own word must agree with the sinks'.
        states = self.service.statuses(self.key, sample)
        if any(state != "sent" for state in states.values()):
            self.failures.append(f"N1 round {index}: every message was at the sinks, but "
                                 f"GET /mail/v1/messages/ID says {states}")
        return Round("N1", index, acknowledged, seconds, result.seconds)

    # ----------------------------------------------------------------- timed rows

    def latency(self, timing: TimingSink, rate: float) -> None:
        assert self.service is not None and self.platform is not None
        dealers = self.platform.dealer_ids
        count = max(100, int(rate * self.args.latency_seconds))
        plan = [Planned(f"lat-{n}", dealers[n % len(dealers)]) for n in range(count)]
        result = asyncio.run(submit(self.service.url, self.key, plan, self.args.sessions,
                                    rate=rate))
        missing = timing.wait_for_tokens(set(result.acknowledged),
                                         time.monotonic() + self.timeout)
        if missing or result.refused:
            self.failures.append(f"latency: {len(missing)} acknowledged messages never "
                                 f"arrived, {sum(result.refused.values())} refused "
                                 f"({result.first_refusal})")
        latencies = [1000 * (timing.arrivals[token][0] - acked)
                     for token, acked in result.acknowledged.items()
                     if token in timing.arrivals]
        achieved = len(result.acknowledged) / result.seconds if result.seconds else 0.0
        self.findings["latency"] = (percentile(latencies, 0.5), percentile(latencies, 0.99),
                                    max(latencies, default=float("nan")))
        early = sum(1 for value in latencies if value < 0)
        print(f"latency: {len(latencies)} messages paced at {rate:.0f}/s (achieved "
              f"{achieved:.0f}/s): 202 → sink p50 {self.findings['latency'][0]:.1f} ms, "
              f"p99 {self.findings['latency'][1]:.1f} ms, max "
              f"{self.findings['latency'][2]:.1f} ms"
              + (f" ({early} arrived before their 202 reached the client)" if early else ""),
              flush=True)

    def fairness(self, timing: TimingSink) -> None:
        assert self.service is not None and self.platform is not None
        dealers, backlog = self.platform.dealer_ids, self.args.backlog
        # Dealer n leases gateway n % PARENTS + 1: B shares A's gateway, C does not.
        dealer_a, dealer_b, dealer_c = dealers[0], dealers[PARENTS], dealers[1]
        self.service.stop()
        self.restart_watched(NAVIXY_PANEL_DELIVER="off")
        plan = [Planned(f"bulk-{n}", dealer_a, "bulk") for n in range(backlog)]
        queued = asyncio.run(submit(self.service.url, self.key, plan, self.args.sessions))
        if queued.refused:
            raise BenchError(f"fairness: {sum(queued.refused.values())} of the backlog refused "
                             f"({queued.first_refusal})")
        print(f"fairness: dealer {dealer_a} queued {backlog:,} bulk messages with delivery "
              f"off in {queued.seconds:.1f} s ({backlog / queued.seconds:.0f}/s)", flush=True)
        self.service.stop()
        self.restart_watched()
        started = time.monotonic()
        draining = min(1000, backlog // 10)
        while self.bulk_arrived(timing) < draining:
            if time.monotonic() - started > self.timeout:
                raise BenchError(f"fairness: fewer than {draining} of the backlog delivered "
                                 f"{self.timeout:.0f} s after delivery started")
            time.sleep(0.01)
        print(f"  delivery draining the backlog ({self.bulk_arrived(timing)} delivered after "
              f"{time.monotonic() - started:.1f} s); now one alarm each from dealer "
              f"{dealer_b} (same gateway) and dealer {dealer_c} (another gateway)", flush=True)
        alarms = [Planned("alarm-same-gateway", dealer_b, "alarm"),
                  Planned("alarm-other-gateway", dealer_c, "alarm")]
        result = asyncio.run(submit(self.service.url, self.key, alarms, 2))
        missing = timing.wait_for_tokens(set(result.acknowledged),
                                         time.monotonic() + self.timeout)
        if result.refused or missing:
            self.failures.append(f"fairness: alarms refused ({result.first_refusal}) or "
                                 f"never delivered ({sorted(missing)})")
        seconds = {}
        for token, acked in result.acknowledged.items():
            if token in timing.arrivals:
                seconds[token] = timing.arrivals[token][0] - acked
                print(f"  {token}: {seconds[token]:.3f} s from 202 to the sink, with "
                      f"{backlog - self.bulk_arrived(timing, before=timing.arrivals[token][0]):,}"
                      " bulk messages still queued", flush=True)
        self.findings["alarm"] = max(seconds.values(), default=float("nan"))
        self.service.stop()
        left = asyncio.run(_drop_unfinished(self.args.dsn, dealer_a))
        print(f"  (the {left:,} bulk messages still queued were deleted before the next row)",
              flush=True)

    @staticmethod
    def bulk_arrived(timing: TimingSink, before: float | None = None) -> int:
        timing.read()
        return sum(1 for token, times in timing.arrivals.items() if token.startswith("bulk-")
                   and (before is None or times[0] <= before))

    def kill_round(self, timing: TimingSink) -> None:
        assert self.service is not None and self.platform is not None
        dealers, messages = self.platform.dealer_ids, self.args.messages
        plan = [Planned(f"kill-{n}", dealers[n % len(dealers)]) for n in range(messages)]
        threshold = messages // 3

        def delivered() -> int:
            timing.read()
            return sum(1 for token in timing.arrivals if token.startswith("kill-"))

        async def submit_and_kill() -> tuple[Any, float]:
            assert self.service is not None
            stop = asyncio.Event()
            submitting = asyncio.create_task(submit(self.service.url, self.key, plan,
                                                    self.args.sessions, stop=stop))
            deadline = time.monotonic() + self.timeout
            while delivered() < threshold and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            stop.set()
            self.service.kill()
            return await submitting, time.monotonic()

        result, killed = asyncio.run(submit_and_kill())
        at_kill = delivered()
        self.restart_watched()
        acknowledged = set(result.acknowledged)
        missing = timing.wait_for_tokens(acknowledged, time.monotonic() + LEASE * 3
                                         + self.timeout)
        recovered = time.monotonic() - killed
        time.sleep(2.0)  # a late duplicate would arrive now
        timing.read()
        ours = {token: times for token, times in timing.arrivals.items()
                if token.startswith("kill-")}
        duplicates = sum(len(times) - 1 for times in ours.values())
        unacknowledged = sum(1 for token in ours if token not in acknowledged)
        self.findings["lost"] = len(missing)
        print(f"kill: SIGKILL when the sink had {at_kill:,} of {messages:,}; "
              f"{len(acknowledged):,} acknowledged (202), {len(acknowledged) - len(missing):,} "
              f"of them delivered, {len(missing)} lost, {duplicates} duplicates, "
              f"{unacknowledged} delivered without a 202 (answer lost in the kill), "
              f"{result.not_sent + sum(result.refused.values()):,} not submitted or refused "
              f"at the kill; everything acknowledged was at the sink "
              f"{recovered:.1f} s after the kill", flush=True)
        if missing:
            assert self.service is not None
            sample = [result.message_ids[token] for token in sorted(missing)[:5]
                      if token in result.message_ids]
            self.failures.append(f"kill: {len(missing)} acknowledged messages lost; some by "
                                 f"GET /mail/v1/messages/ID: "
                                 f"{self.service.statuses(self.key, sample, within=0)}")

    def profile(self, folder: Path) -> None:
        """One more N1 round with py-spy sampling the service (200 Hz, not stopping it)."""
        assert self.service is not None and self.service.process is not None
        py_spy = os.environ.get("PY_SPY") or shutil.which("py-spy") or shutil.which(
            "py-spy", path=str(Path(sys.executable).parent))
        if py_spy is None:
            raise BenchError("--profile needs py-spy: pip install py-spy (or set PY_SPY)")
        folder.mkdir(parents=True, exist_ok=True)
        raw = folder / "N1.collapsed"
        recorder = subprocess.Popen(
            [py_spy, "record", "--pid", str(self.service.process.pid), "--rate", "200",
             "--format", "raw", "--nonblocking", "-o", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            r = self.n1(0, self.args.messages)
        finally:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its stacks on Ctrl-C
            _, err = recorder.communicate(timeout=120)
        print(f"\nprofile of one N1 round under py-spy: {r.rate:.0f} msg/s (ingest "
              f"{r.ingest_rate or 0:.0f}/s); stacks in {raw}")
        if not raw.exists():
            print(f"  py-spy failed: {err.decode(errors='replace')[-500:]}")
            return
        summarize_profile(raw)

    def restart_watched(self, **extra: str) -> None:
        assert self.service is not None
        process = self.service.start(**extra)
        self.sampler.watch(f"service {self.service.starts}", process.pid)


async def _drop_unfinished(dsn: str, dealer_id: int) -> int:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        status = await connection.execute(
            "DELETE FROM mail_messages WHERE dealer_id = $1 "
            "AND status IN ('queued', 'deferred', 'sending')", dealer_id)
    finally:
        await connection.close()
    return int(status.split()[-1])


# --------------------------------------------------------------------------- the run


def service_env(run: Run, db_url: str) -> dict[str, str]:
    quota = max(100_000, 2 * run.args.backlog)
    return {**run.env, "DATABASE_URL": db_url,
            "NAVIXY_PANEL_SECRET_KEY": Fernet.generate_key().decode(),
            "NAVIXY_PANEL_DATA_DIR": str(run.work_dir / "service-data"),
            "NAVIXY_PANEL_LOG_LEVEL": "WARNING",
            "NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS": "127.0.0.0/8",
            "NAVIXY_PANEL_DEALER_QUEUE_QUOTA": str(quota),
            "NAVIXY_PANEL_KEY_RATE": "1000000",
            "NAVIXY_PANEL_DELIVER": "on",
            "NAVIXY_PANEL_DELIVERY_LEASE": str(LEASE),
            "NAVIXY_PANEL_SUBMISSION_PORT": str(run.submission_port),
            "PYTHONUNBUFFERED": "1"}


def benchmark(args: argparse.Namespace, work_dir: Path, processes: Processes) -> int:
    for tool in ("smtp-sink", "smtp-source", "postfix"):
        smtp_tool(tool)
    run = Run(args, work_dir, processes)
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
          f"{args.messages:,} messages of 1 KB per round over {args.sessions} sessions, "
          f"{SINKS} sinks", flush=True)
    with database(args, work_dir) as db:
        args.dsn = db.dsn
        from navixy_panel.db.migrate import upgrade

        upgrade(db.url)
        run.platform = asyncio.run(seed(db.dsn, run.sinks.ports))
        print(f"database: {db.label}; seeded {DEALERS:,} dealers leasing {PARENTS} gateways "
              f"of {PARENTS} parent dealers", flush=True)
        env = service_env(run, db.url)
        run.key = create_key(db, env, "platform")
        for login in N3_DEALERS:
            port = free_port()
            processes.start(f"forwarder-{login}", [
                sys.executable, str(Path(__file__).parent / "mailbench" / "forwarder.py"),
                str(port), str(run.submission_port), login, create_key(db, env, login)],
                run.env)
            run.forwarders.append(port)
        try:
            run.sinks.start()
            run.service = Service(processes, db, env)
            with postfix.running(work_dir, run.sinks.ports) as run.postfix_port:
                run.sampler.start()
                try:
                    service = run.service.start()
                except BenchError as exc:  # the other rows still say something
                    api, probe = False, "`serve` did not start"
                    run.failures.append(f"the service did not start: {exc}")
                else:
                    run.sampler.watch("service 1", service.pid)
                    api, probe = run.service.has_submission_api(run.key,
                                                                run.platform.dealer_ids[0])
                rows = ROWS if api else ROWS[:-2]
                if not api:
                    print(f"N rows: n/a ({probe})", flush=True)
                if args.warmup:
                    for row in rows:
                        run.row(row, 0, args.warmup)
                print(f"\n{'round':>5} {'row':<4} {'messages':>8} {'seconds':>8} {'msg/s':>8} "
                      f"{'ingest/s':>9}  what", flush=True)
                foreign = ForeignMeter(work_dir)
                for index in range(1, args.rounds + 1):
                    for row in rows:
                        r = run.row(row, index, args.messages)
                        run.rounds.append(r)
                        ingest = f"{r.ingest_rate:>9.0f}" if r.ingest_rate else f"{'':>9}"
                        print(f"{index:>5} {row:<4} {r.messages:>8} {r.seconds:>8.2f} "
                              f"{r.rate:>8.0f} {ingest}  {DESCRIPTIONS[row]}", flush=True)
                share = foreign.percent_of_a_core()
                print(f"other processes used {share:.0f}% of one core during these rounds"
                      + (" (noisy: other work shared the CPUs)" if share > 10 else ""),
                      flush=True)
                if args.profile is not None and api:
                    run.profile(args.profile)
                run.service.stop()
            run.sinks.stop()
            n1 = median([r.rate for r in run.rounds if r.row == "N1"])
            if api and not n1 > 0:
                print("latency, fairness, kill: n/a (N1 delivered nothing)", flush=True)
            elif api:
                print("\nthe sinks' ports now get timing_sink.py; service restarted",
                      flush=True)
                timing = TimingSink(processes, run.env, run.sinks.ports)
                timing.start()
                run.restart_watched()
                run.latency(timing, n1 / 2)
                run.fairness(timing)
                run.restart_watched()
                run.kill_round(timing)
                run.service.stop()
                timing.stop()
            run.sampler.sample()
        finally:
            run.sampler.stop()
            if run.service is not None and run.service.process is not None:
                run.findings["hwm"] = vm_hwm(run.service.process.pid)
            processes.stop_all()
    return report(run)


def report(run: Run) -> int:
    args = run.args
    rates = {row: median([r.rate for r in run.rounds if r.row == row]) for row in ROWS}
    ingest = {row: median([r.ingest_rate or 0.0 for r in run.rounds if r.row == row])
              for row in ("P1", "N1", "N3")}
    print(f"\nmedians over {args.rounds} rounds of {args.messages:,} messages:")
    for row in ROWS:
        figure = f"{rates[row]:>8.0f} msg/s" if row in rates and rates[row] == rates[row] \
            else "     n/a      "
        extra = f", ingest {ingest[row]:.0f}/s" if ingest.get(row, 0) > 0 else ""
        todo = ""
        print(f"  {row:<3} {figure}  {DESCRIPTIONS[row]}{extra}{todo}")
    n1, p1, n2 = rates["N1"], rates["P1"], rates["N2"]
    n3 = rates["N3"]
    print(f"  N1/P1 {n1 / p1:.2f}   N1/N2 {n1 / n2:.2f}   P1/L {p1 / rates['L']:.3f}   "
          f"N3/P1 {n3 / p1:.2f}")
    cpu = run.n1_cpu
    if args.database_url:
        print("PostgreSQL's CPU: not measured (--database-url: not this run's processes)")
    elif cpu.wall:
        share = 100 * cpu.postgres / max(cpu.host, 1e-9)
        print(f"during the N1 rounds ({cpu.wall:.1f} s): PostgreSQL "
              f"{100 * cpu.postgres / cpu.wall:.0f}% of one core ({share:.0f}% of the CPU "
              f"time the host used), the service {100 * cpu.service / cpu.wall:.0f}%, the host "
              f"{100 * cpu.host / cpu.wall:.0f}% of one core in all")
    peak = max(run.sampler.peak.values(), default=0) / 2**20
    hwm = run.findings.get("hwm")
    print(f"peak RSS of the service (sampled every 0.5 s, every start): {peak:.0f} MB"
          + (f"; VmHWM of the last start {hwm / 2**20:.0f} MB" if hwm else ""))
    p50, p99, _ = run.findings.get("latency", (float("nan"),) * 3)
    alarm = run.findings.get("alarm", float("nan"))
    lost = run.findings.get("lost")
    targets = [
        ("N1 ≥ 1.0 × P1", n1 / p1 >= 1.0 if n1 == n1 else None, f"{n1 / p1:.2f} ×"),
        ("N1 ≥ 5 × N2", n1 / n2 >= 5.0 if n1 == n1 else None, f"{n1 / n2:.2f} ×"),
        ("N3 ≥ 1.0 × P1", n3 / p1 >= 1.0 if n3 == n3 else None, f"{n3 / p1:.2f} ×"),
        ("p99 202→250 ≤ 250 ms at half load", p99 <= 250 if p99 == p99 else None,
         f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"),
        ("alarm ≤ 2 s behind the backlog", alarm <= 2.0 if alarm == alarm else None,
         f"{alarm:.3f} s (the later of the two)"),
        ("0 lost in the kill round", lost == 0 if lost is not None else None, f"{lost}"),
        (f"peak RSS ≤ {RSS_LIMIT_MB} MB", peak <= RSS_LIMIT_MB if n1 == n1 else None,
         f"{peak:.0f} MB"),
    ]
    print("\ntargets" + (" (--quick: not figures to quote)" if args.quick else ""))
    for name, passed, value in targets:
        verdict = "n/a" if passed is None else ("PASS" if passed else "MISS")
        print(f"  {name:<36} {verdict:<4}  {value}")
    if run.failures:
        print("\nbenchmark FAILED:", file=sys.stderr)
        for line in run.failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    if args.strict and any(passed is False for _, passed, _ in targets):
        print("\ntargets missed (--strict)", file=sys.stderr)
        return 2
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each row (3)")
    parser.add_argument("--messages", type=int, default=5000,
                        help="messages per round, and in the kill round (5000)")
    parser.add_argument("--sessions", type=int, default=20,
                        help="SMTP sessions, HTTP connections, messages in flight (20)")
    parser.add_argument("--backlog", type=int, default=50_000,
                        help="dealer A's bulk messages in the fairness row (50000)")
    parser.add_argument("--latency-seconds", type=float, default=10.0,
                        help="how long the paced latency row submits (10)")
    parser.add_argument("--warmup", type=int, default=500,
                        help="messages per row sent once before the rounds, unmeasured (500)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds a row may take before the run fails (300)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run to try the benchmark: 1000 messages, a 5000 "
                        "backlog, 5 s of latency, no warm-up (figures not to quote)")
    parser.add_argument("--database-url", metavar="URL",
                        help="a PostgreSQL server to create a throwaway database on "
                        "(default: an embedded PostgreSQL in the temporary folder)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="after the rounds, one more N1 round under py-spy (pip install "
                        "py-spy; or PY_SPY=path), stacks in DIR and the top frames printed")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (logs) instead of deleting it")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.backlog, args.latency_seconds, args.warmup = 1000, 5000, 5.0, 0
    if args.rounds < 1 or args.messages < 10 or args.sessions < 1 or args.backlog < 100:
        parser.error("--rounds ≥ 1, --messages ≥ 10, --sessions ≥ 1, --backlog ≥ 100")
    return args


def main() -> int:
    args = parse_args()

    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    from navixy_panel.db.embedded import stop_orphans

    stop_orphans(TEMP_PREFIX)  # servers of an earlier run that was killed outright
    postfix.stop_orphans(TEMP_PREFIX)
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
        if (work_dir / "postfix").exists():
            postfix.stop(work_dir / "postfix")  # already stopped unless it failed to start
        if args.keep:
            shutil.rmtree(work_dir / "db", ignore_errors=True)
            print(f"kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
