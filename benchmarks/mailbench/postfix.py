"""A private Postfix on loopback for row P1: its own config, queue and data folders
under the run's temporary folder, never the system's instance (the same approach as
tests/support/postfix.py, without its TLS and SASL ports).

What it is set up as: the relay a platform would put in front of its mail, with
defaults everywhere except what a private instance needs and what the row says:

- one smtpd port on 127.0.0.1 taking mail from 127.0.0.0/8 (`mynetworks`), no TLS,
  no AUTH (smtp-source speaks neither), no reverse lookup of the client
  (`smtpd_peername_lookup = no`: this host has no DNS, and a time-out there would
  measure the resolver, not Postfix);
- a transport map sending domain `sN.bench.test` to sink N (`smtp:[127.0.0.1]:port`),
  so the load spreads over the sinks as navixy-panel's gateways do;
- connection caching on (`smtp_connection_cache_on_demand = yes`, Postfix's default,
  written out so the row says what it measured); the queue on disk, as always;
- the default concurrency (20 per destination) and process limits (100).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from platform_bench import BenchError, free_port

from mailbench.sinks import smtp_tool, wait_listening

DOMAIN = "bench.test"


def sink_domain(index: int) -> str:
    return f"s{index}.{DOMAIN}"


def _master_cf(port: int) -> str:
    """Debian's master.cf without chroot (the queue lives outside any jail) and with
    its port-25 line replaced by our port."""
    lines = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        if line.startswith("smtp      inet"):
            continue
        fields = line.split()
        if len(fields) >= 8 and not line[0].isspace() and not line.startswith("#"):
            fields[4] = "n"
            line = " ".join(fields)
        lines.append(line)
    lines.append(f"127.0.0.1:{port} inet n - n - - smtpd")
    return "\n".join(lines) + "\n"


def _main_cf(folder: Path, transport: Path) -> str:
    return f"""\
compatibility_level = 3.6
queue_directory = {folder / 'queue'}
data_directory = {folder / 'data'}
maillog_file = {folder / 'maillog'}
maillog_file_prefixes = {folder}
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.{DOMAIN}
mydomain = {DOMAIN}
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
transport_maps = texthash:{transport}
smtp_host_lookup = native
smtp_tls_security_level = none
smtp_connection_cache_on_demand = yes
"""


def _master_pid(folder: Path) -> int | None:
    """The pid of the instance's master while it runs (its pid file outlives it)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((folder / "queue" / "pid" / "master.pid").read_text().split()[0])
        os.kill(pid, 0)
        return pid
    return None


def stop(folder: Path) -> None:
    """`postfix -c FOLDER/config stop`, then waits for its master to be gone."""
    pid = _master_pid(folder)
    subprocess.run([smtp_tool("postfix"), "-c", str(folder / "config"), "stop"],
                   capture_output=True, check=False)
    deadline = time.monotonic() + 15
    while pid is not None and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def stop_orphans(temp_prefix: str) -> None:
    """A run killed outright (SIGKILL) leaves its Postfix running: stop those."""
    base = Path(os.environ.get("TMPDIR", "/tmp"))
    for config in base.glob(f"{temp_prefix}*/postfix/config/main.cf"):
        folder = config.parent.parent
        if _master_pid(folder) is not None:
            print(f"stopping the Postfix of an earlier run in {folder}", flush=True)
            stop(folder)
        shutil.rmtree(config.parent.parent.parent, ignore_errors=True)


@contextlib.contextmanager
def running(work_dir: Path, sink_ports: list[int]) -> Iterator[int]:
    """Starts the instance in WORK_DIR/postfix; yields its smtpd port; stops it."""
    postfix = smtp_tool("postfix")
    if os.geteuid() != 0:
        raise BenchError("P1 needs root: Postfix's master must run as root")
    folder = work_dir / "postfix"
    config = folder / "config"
    for name in ("queue", "data", "config"):
        (folder / name).mkdir(parents=True)
    folder.chmod(0o755)
    work_dir.chmod(0o755)  # Postfix's daemons run as `postfix` and must reach the folder
    user = pwd.getpwnam("postfix")
    os.chown(folder / "data", user.pw_uid, user.pw_gid)
    transport = config / "transport"
    transport.write_text("".join(f"{sink_domain(i)} smtp:[127.0.0.1]:{port}\n"
                                 for i, port in enumerate(sink_ports)))
    port = free_port()
    (config / "main.cf").write_text(_main_cf(folder, transport))
    (config / "master.cf").write_text(_master_cf(port))
    started = subprocess.run([postfix, "-c", str(config), "start"], capture_output=True,
                             text=True, check=False)
    try:
        if started.returncode != 0:
            raise BenchError(f"postfix start failed: {started.stdout}{started.stderr}")
        wait_listening([port], [], [])
        yield port
    finally:
        stop(folder)


def queue_empties(work_dir: Path, timeout: float = 10.0) -> bool:
    """Whether no file is left in the queue's message folders (what `mailq` would list)
    within `timeout`: qmgr removes a queue file only after the smtp client reported the
    sink's 250, a moment after the sink counted it."""
    queue = work_dir / "postfix" / "queue"
    deadline = time.monotonic() + timeout
    while any(path.is_file() for name in ("incoming", "active", "deferred", "maildrop")
              for path in (queue / name).rglob("*")):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def log_tail(work_dir: Path, lines: int = 20) -> str:
    path = work_dir / "postfix" / "maillog"
    if not path.exists():
        return "(no maillog)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
