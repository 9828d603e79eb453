"""`serve --workers N`: N processes accepting on one port (SO_REUSEPORT).

The parent owns what must exist once: the embedded PostgreSQL (if no
DATABASE_URL), the migration, the demo seed and the secret key; it then starts
N ordinary `serve` processes pointed at that database, restarts any that dies,
and on SIGTERM/SIGINT passes the signal on, waits for them to finish their
in-flight requests, and stops the database last.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from navixy_panel import deployment
from navixy_panel.db import migrate
from navixy_panel.settings import Settings

log = logging.getLogger(__name__)


def run(args: argparse.Namespace, settings: Settings) -> None:
    """After `serve` has checked everything and printed its first line."""
    chosen = deployment.database(settings)
    url = chosen.start()
    try:
        if not args.no_migrate:
            migrate.upgrade(chosen.direct(url))
        if args.demo:
            from navixy_panel.cli.demo import seed_and_print

            seed_and_print(url, settings, args.port, args.demo_smtp_ports)
        environment = {
            **os.environ,
            "DATABASE_URL": url,
            "NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS": ",".join(settings.smtp_allowed_networks),
            "NAVIXY_PANEL_SECRET_KEY": ",".join(deployment.secret_keys(settings)),
            # What `serve --demo` chose for SMTP submission (the operator's own are
            # in the environment already).
            **{name: str(value) for name, value in (
                ("NAVIXY_PANEL_SUBMISSION_PORT", settings.submission_port),
                ("NAVIXY_PANEL_SUBMISSION_TLS_CERT", settings.submission_tls_cert),
                ("NAVIXY_PANEL_SUBMISSION_TLS_KEY", settings.submission_tls_key))
               if value is not None},
        }
        command = [sys.executable, "-m", "navixy_panel", "serve", "--host", args.host,
                   "--port", str(args.port), "--no-migrate", "--reuse-port",
                   *(["--no-deliver"] if args.no_deliver else [])]
        _supervise(command, environment, args.workers)
    finally:
        chosen.stop()


def _supervise(command: list[str], environment: dict[str, str], count: int) -> None:
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers = [subprocess.Popen(command, env=environment) for _ in range(count)]
    print(f"======== {count} workers on {command[5]}:{command[7]} ========", flush=True)
    while not stopping.wait(0.5):
        for index, worker in enumerate(workers):
            if worker.poll() is not None:
                log.error("worker %s exited with %s; starting another", worker.pid,
                          worker.returncode)
                time.sleep(0.5)
                workers[index] = subprocess.Popen(command, env=environment)
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=35)  # each worker's own shutdown time-out is 30 s
        except subprocess.TimeoutExpired:
            worker.kill()
