"""Free loopback ports and plain HTTP calls, for tests that start real processes.

No test names a fixed port: a `serve --demo` left running in the project folder
holds 8080, 1025 and 2525, and the suite must pass beside it."""

from __future__ import annotations

import json
import socket
import urllib.request
from typing import Any


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports nothing listens on (all bound at once, so none repeats)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for each in sockets:
            each.bind((host, 0))
        return [int(each.getsockname()[1]) for each in sockets]
    finally:
        for each in sockets:
            each.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on: also what a gateway to a closed port points at."""
    return free_ports(1, host)[0]


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())
