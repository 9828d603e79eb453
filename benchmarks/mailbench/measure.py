"""CPU seconds of PostgreSQL and of the service, percentiles."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


def _own(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def postgres_cpu_seconds(work_dir: Path) -> float:
    """CPU seconds so far of the embedded PostgreSQL under `work_dir`: every postgres
    process whose command line names it (the postmaster), its live backends, and the
    backends that already exited (the postmaster's reaped children)."""
    total = 0.0
    for process in psutil.process_iter(attrs=["name", "cmdline"]):
        if process.info["name"] != "postgres" \
                or str(work_dir) not in " ".join(process.info["cmdline"] or []):
            continue
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
            for child in process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += _own(child)
    return total


def process_cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        return _own(psutil.Process(pid))
    return 0.0


def busy_cpu_seconds() -> float:
    """CPU seconds the whole host spent not idle, every core added."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


@dataclass
class CpuWindow:
    """CPU spent over a stretch of time by PostgreSQL, the service and the whole host."""

    wall: float = 0.0
    postgres: float = 0.0
    service: float = 0.0
    host: float = 0.0

    def add(self, other: CpuWindow) -> None:
        self.wall += other.wall
        self.postgres += other.postgres
        self.service += other.service
        self.host += other.host


class CpuMeter:
    def __init__(self, work_dir: Path, service_pid: int | None) -> None:
        self.work_dir = work_dir
        self.pid = service_pid
        self.start = (time.monotonic(), postgres_cpu_seconds(work_dir),
                      process_cpu_seconds(service_pid), busy_cpu_seconds())

    def stop(self) -> CpuWindow:
        wall, postgres, service, host = self.start
        return CpuWindow(time.monotonic() - wall,
                         postgres_cpu_seconds(self.work_dir) - postgres,
                         process_cpu_seconds(self.pid) - service,
                         busy_cpu_seconds() - host)


def _tree_seconds(root: psutil.Process, seen: set[int]) -> float:
    """CPU seconds of `root` and its live descendants, with what each has reaped: a
    child that exits moves its whole lifetime into its parent's counters, so the
    difference of two readings counts every process of the tree once."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        for process in [root, *root.children(recursive=True)]:
            if process.pid in seen:
                continue
            seen.add(process.pid)
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system + times.children_user \
                    + times.children_system
    return total


def ours_cpu_seconds(work_dir: Path) -> float:
    """CPU seconds of everything this run started: this process and its children, the
    embedded PostgreSQL under `work_dir` and the private Postfix (both daemonise, so
    neither is a child)."""
    roots = [psutil.Process()]
    for process in psutil.process_iter(attrs=["name", "cmdline"]):
        if process.info["name"] == "postgres" \
                and str(work_dir) in " ".join(process.info["cmdline"] or []):
            roots.append(process)
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        pid_file = work_dir / "postfix" / "queue" / "pid" / "master.pid"
        roots.append(psutil.Process(int(pid_file.read_text().split()[0])))
    seen: set[int] = set()
    return sum(_tree_seconds(root, seen) for root in roots)


class ForeignMeter:
    """How much CPU processes that are not this run's took meanwhile (other work on the
    host makes every figure lower): the host's busy time less ours."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.start = (time.monotonic(), busy_cpu_seconds(), ours_cpu_seconds(work_dir))

    def percent_of_a_core(self) -> float:
        wall, host, ours = self.start
        spent = (busy_cpu_seconds() - host) - (ours_cpu_seconds(self.work_dir) - ours)
        return 100 * max(0.0, spent) / max(time.monotonic() - wall, 1e-9)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1) of unsorted values; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
