"""A private Debian Postfix on loopback, for proving sends against a real MTA.

aiosmtpd is lenient where real servers are strict: Postfix offers no AUTH before
STARTTLS on a submission port and forgets its EHLO extensions after the upgrade, so
only a client that greets again (RFC 3207) can log in. This instance has its own
config, queue and data directories under the test's temporary folder and never
touches the system's Postfix:

- one submission-like port per SASL mechanism (PLAIN, LOGIN, CRAM-MD5), each with
  `smtpd_tls_security_level=encrypt` and Cyrus SASL offering only that mechanism,
  plus one offering all three (what Debian's defaults give);
- an implicit-TLS port (`smtpd_tls_wrappermode=yes`) offering all three;
- certificates from a trustme CA (its PEM is `ca_file`, for `SSL_CERT_FILE`);
- users in a sasldb made by `saslpasswd2 -f`;
- every accepted message relayed (`relayhost`, the `smtp:` transport) to an aiosmtpd
  sink on loopback, whose messages a test reads with `wait_for_messages`.

Postfix's master must run as root, and the packages are Debian's `postfix`,
`sasl2-bin` and `libsasl2-modules`: without them `skip_reason` says which is missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme

from tests.support.net import free_port
from tests.support.smtp import Received, Server, aiosmtpd_server

HOST = "127.0.0.1"
REALM = "postfix.test"
MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")
ALL = "ALL"  # the port offering every mechanism
USERS = {"relay-user": "relay-secret-42", "ops": "mandrill-api-key-7"}
SASL_MODULES = Path("/usr/lib/x86_64-linux-gnu/sasl2")


def skip_reason() -> str | None:
    """Why these tests cannot run here, naming the Debian package to install."""
    if shutil.which("postfix", path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
        return ("Debian's Postfix is not installed (apt-get install postfix sasl2-bin "
                "libsasl2-modules)")
    if shutil.which("saslpasswd2", path="/usr/sbin:/usr/bin") is None:
        return "saslpasswd2 is missing (apt-get install sasl2-bin)"
    if not any(SASL_MODULES.glob("libcrammd5.so*")) and not any(
            Path("/usr/lib").glob("*/sasl2/libcrammd5.so*")):
        return "the Cyrus SASL mechanisms are missing (apt-get install libsasl2-modules)"
    if os.geteuid() != 0:
        return "Postfix's master must run as root (package postfix)"
    return None


@dataclass
class Postfix:
    folder: Path
    ports: dict[str, int]  # PLAIN, LOGIN, CRAM-MD5, ALL: STARTTLS submission ports
    smtps_port: int  # implicit TLS, every mechanism
    ca_file: Path
    sink: Server

    @property
    def messages(self) -> list[Received]:
        return self.sink.messages

    def wait_for_messages(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Postfix relays asynchronously: the sink has them a moment after the 250."""
        deadline = time.monotonic() + timeout
        while len(self.sink.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.sink.messages)

    def log(self) -> str:
        path = self.folder / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""


def _write_sasl(config: Path, name: str, mechanisms: str, sasldb: Path) -> str:
    """A Cyrus SASL application file: smtpd reads `<config_directory>/sasl/<app>.conf`
    with `smtpd_sasl_path` as the app (Debian's smtpd ignores
    `cyrus_sasl_config_path`), so each port names its own app."""
    app = f"smtpd-{name.lower()}"
    directory = config / "sasl"
    directory.mkdir(exist_ok=True)
    (directory / f"{app}.conf").write_text(
        "pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
        f"mech_list: {mechanisms}\nsasldb_path: {sasldb}\n")
    return app


def _master_cf(ports: dict[str, int], smtps_port: int, sasl: dict[str, str]) -> str:
    """Debian's master.cf, no chroot (the sasldb and certificates live outside any
    jail), its port 25 line replaced by the test ports."""
    lines = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        if line.startswith("smtp      inet"):
            continue
        fields = line.split()
        if len(fields) >= 8 and not line[0].isspace() and not line.startswith("#"):
            fields[4] = "n"
            line = " ".join(fields)
        lines.append(line)
    for name, port in ports.items():
        lines.append(f"{HOST}:{port} inet n - n - - smtpd\n"
                     f"  -o smtpd_tls_security_level=encrypt\n"
                     f"  -o smtpd_sasl_auth_enable=yes\n"
                     f"  -o smtpd_sasl_path={sasl[name]}")
    lines.append(f"{HOST}:{smtps_port} inet n - n - - smtpd\n"
                 f"  -o smtpd_tls_wrappermode=yes\n"
                 f"  -o smtpd_sasl_auth_enable=yes\n"
                 f"  -o smtpd_sasl_path={sasl[ALL]}")
    return "\n".join(lines) + "\n"


def _main_cf(folder: Path, sink_port: int, chain: Path) -> str:
    return f"""\
compatibility_level = 3.6
queue_directory = {folder / 'queue'}
data_directory = {folder / 'data'}
maillog_file = {folder / 'maillog'}
maillog_file_prefixes = {folder}
mail_owner = postfix
setgid_group = postdrop
myhostname = {REALM}
mydomain = {REALM}
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = {HOST}
inet_protocols = ipv4
mynetworks = 192.0.2.1/32
relayhost = [{HOST}]:{sink_port}
smtp_host_lookup = native
smtp_tls_security_level = none
smtpd_banner = $myhostname ESMTP
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_tls_chain_files = {chain}
smtpd_tls_auth_only = yes
smtpd_sasl_type = cyrus
smtpd_sasl_local_domain = {REALM}
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = no
"""


def _wait_listening(ports: list[int], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex((HOST, port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"Postfix is not listening on {HOST}:{port}")
            time.sleep(0.05)


def _master_pid(folder: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int((folder / "queue" / "pid" / "master.pid").read_text().split()[0])
    return None


@contextlib.contextmanager
def running_postfix() -> Iterator[Postfix]:
    """Starts an instance in a new temporary folder, then stops it and deletes the folder.

    The folder is not under pytest's `tmp_path`: its parents are private to root, and
    Postfix's daemons, running as the `postfix` user, must reach their data directory
    and the sasldb."""
    folder = Path(tempfile.mkdtemp(prefix="navixy-panel-postfix-"))
    try:
        folder.chmod(0o755)
        with _running(folder) as postfix:
            yield postfix
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _running(folder: Path) -> Iterator[Postfix]:
    for name in ("queue", "data"):
        (folder / name).mkdir()
    postfix_user = pwd.getpwnam("postfix")
    os.chown(folder / "data", postfix_user.pw_uid, postfix_user.pw_gid)

    ca = trustme.CA()
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_cert = ca.issue_cert(HOST, "localhost")
    chain = folder / "chain.pem"  # key first, then the certificate chain (Postfix 3.4+)
    chain.write_bytes(server_cert.private_key_pem.bytes() + b"".join(
        blob.bytes() for blob in server_cert.cert_chain_pems))
    chain.chmod(0o600)

    sasldb = folder / "sasldb2"
    for user, password in USERS.items():
        subprocess.run(["saslpasswd2", "-f", str(sasldb), "-p", "-c", "-u", REALM, user],
                       input=password.encode(), check=True, capture_output=True)
    os.chown(sasldb, 0, postfix_user.pw_gid)
    sasldb.chmod(0o640)

    config = folder / "config"
    config.mkdir()
    sasl = {name: _write_sasl(config, name, name, sasldb) for name in MECHANISMS}
    sasl[ALL] = _write_sasl(config, ALL, " ".join(MECHANISMS), sasldb)
    ports = {name: free_port() for name in sasl}
    smtps_port = free_port()

    with aiosmtpd_server() as sink:
        (config / "main.cf").write_text(_main_cf(folder, sink.port, chain))
        (config / "master.cf").write_text(_master_cf(ports, smtps_port, sasl))
        started = subprocess.run(["postfix", "-c", str(config), "start"],
                                 capture_output=True, text=True)
        if started.returncode != 0:
            raise RuntimeError(f"postfix start failed: {started.stdout}{started.stderr}")
        try:
            _wait_listening([*ports.values(), smtps_port])
            yield Postfix(folder, ports, smtps_port, ca_file, sink)
        finally:
            pid = _master_pid(folder)
            subprocess.run(["postfix", "-c", str(config), "stop"], capture_output=True)
            deadline = time.monotonic() + 10
            while pid is not None and time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)


def reply_code(text: str) -> int | None:
    """The reply code a failure description ends with, `(reply code 535)`."""
    found = re.search(r"reply code (\d{3})", text)
    return int(found.group(1)) if found else None
