"""The receivers standing for the dealers' relays.

Throughput rows count at Postfix's `smtp-sink` (C, a few percent of a core at 15,000
messages/s, so the receiver is never what a row measures). It is counted through its
own `-c` counters rather than by a sink of ours: smtp-sink rewrites
`sess=N quit=N mesg=N` followed by a carriage return on stdout each time a session ends
or a "." is received, and that stdout goes to a file here, so reading the file's tail
costs the sink nothing (a pipe left unread would block it) and the count is what the
sink itself acknowledged with 250 — the same event a relay's log would show. Only
complete records (ending in the carriage return) are read, so a record half-written
at the moment of reading is never taken for a smaller number.

The rows that must know which message arrived and when use `TimingSink`
(timing_sink.py beside this file) on the same ports instead.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from platform_bench import BenchError, Processes, free_port, tail

HERE = Path(__file__).resolve().parent
_MESSAGES = re.compile(rb"mesg=(\d+)\r")
POLL = 0.005


def smtp_tool(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"]))
    if found is None:
        raise BenchError(f"{name} is missing: it is part of Debian's `postfix` package "
                         "(apt-get install postfix)")
    return found


def _last_count(path: Path) -> int:
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - 256))
            found = _MESSAGES.findall(file.read())
    except OSError:
        return 0
    return int(found[-1]) if found else 0


class CountingSinks:
    """`smtp-sink -c` on `count` loopback ports; `total()` is what they received so far."""

    def __init__(self, processes: Processes, env: dict[str, str], count: int) -> None:
        self.processes = processes
        self.env = env
        self.ports = [free_port() for _ in range(count)]
        self.names = [f"smtp-sink-{port}" for port in self.ports]
        self.started: list[Any] = []

    def start(self) -> None:
        sink = smtp_tool("smtp-sink")
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        for port, name in zip(self.ports, self.names, strict=True):
            self.started.append(self.processes.start(
                name, [sink, "-c", *user, "-4", f"127.0.0.1:{port}", "1024"], self.env))
        wait_listening(self.ports, self.started, [self.processes.log(n) for n in self.names])

    def stop(self) -> None:
        for process, name in zip(self.started, self.names, strict=True):
            self.processes.stop(process, name)
        self.started = []

    def total(self) -> int:
        return sum(_last_count(self.processes.log(name)) for name in self.names)

    def wait_for(self, target: int, deadline: float) -> int:
        """Polls until the sinks hold `target` messages or the monotonic `deadline`;
        returns the total then."""
        while True:
            total = self.total()
            if total >= target or time.monotonic() > deadline:
                return total
            time.sleep(POLL)


class TimingSink:
    """timing_sink.py on the given ports: which message arrived, how often and when."""

    def __init__(self, processes: Processes, env: dict[str, str], ports: list[int]) -> None:
        self.processes = processes
        self.env = env
        self.ports = ports
        self.output = processes.work_dir / "timing-sink.txt"
        self.arrivals: dict[str, list[float]] = {}
        self.by_port: Counter[int] = Counter()
        self._offset = 0
        self._process: Any = None

    def start(self) -> None:
        self._process = self.processes.start(
            "timing-sink", [sys.executable, str(HERE / "timing_sink.py"), str(self.output),
                            *map(str, self.ports)], self.env)
        wait_listening(self.ports, [self._process], [self.processes.log("timing-sink")])

    def stop(self) -> None:
        if self._process is not None:
            self.processes.stop(self._process, "timing-sink")
            self._process = None

    def read(self) -> int:
        """Takes in the lines written since the last call; returns the messages so far."""
        try:
            with self.output.open("rb") as file:
                file.seek(self._offset)
                chunk = file.read()
        except FileNotFoundError:
            return 0
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.decode().splitlines():
            stamp, port, token = line.split()
            self.arrivals.setdefault(token, []).append(float(stamp))
            self.by_port[int(port)] += 1
        return self.count()

    def count(self) -> int:
        return sum(self.by_port.values())

    def wait_for_tokens(self, tokens: set[str], deadline: float) -> set[str]:
        """Polls until every token has arrived or the deadline; returns those missing."""
        while True:
            self.read()
            missing = {token for token in tokens if token not in self.arrivals}
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(POLL)


def wait_listening(ports: list[int], started: list[Any], logs: list[Path],
                   timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            for process, log in zip(started, logs, strict=False):
                if process.poll() is not None:
                    raise BenchError(f"{process.args[0]} exited with status "
                                     f"{process.returncode}:\n{tail(log)}")
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")
            time.sleep(0.05)
