"""`serve --demo`: a platform owner with a leasable relay and a sub-dealer with
its own gateway, so a new user can call the API at once, and an SMTP sink on
the ports those gateways point at, which prints what a test send delivers.
It also opens SMTP submission on 127.0.0.1:2587, with STARTTLS by a self-signed
certificate made in the data directory, and prints how to submit with the
sub-dealer's fixed submission key (swaks, Python).

The credentials are fixed so that the README's curl lines work as written;
they are for a local trial only, never for a reachable server. The seed (ids,
labels, ports) is what the README and the admin-panel harness rely on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import shlex
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path

from aiohttp import web

from navixy_panel.cli import sink
from navixy_panel.cli.common import with_context
from navixy_panel.domain import permissions
from navixy_panel.domain.caller import OPERATOR
from navixy_panel.domain.gateways import GatewayInput
from navixy_panel.domain.smtp_params import SmtpParamsSchema
from navixy_panel.http import keys
from navixy_panel.settings import Settings
from navixy_panel.submission.runtime import SUBMISSION
from navixy_panel.usecases import keys as keys_usecases
from navixy_panel.usecases import operator, sender_identity
from navixy_panel.usecases.context import Context

OWNER = ("owner", "owner-demo-password")
DEALER = ("dealer", "dealer-demo-password")
RELAY_SMTP_PORT = 2525  # the owner's leasable "Platform relay" (gateway 1)
OWN_SMTP_PORT = 1025  # the sub-dealer's bound "Own SMTP" (gateway 2)
# The sub-dealer's submission key: fixed, like the passwords, so the README's lines work
# as written. Never use it (or `serve --demo`) on a reachable server.
DEMO_KEY = "npk_demo-key-for-a-local-trial-only-not-secret0"
# `serve --demo-smtp-ports` may choose others, e.g. beside a demo already running.
SINK_PORTS = (OWN_SMTP_PORT, RELAY_SMTP_PORT)
SUBMISSION_PORT = 2587  # unless NAVIXY_PANEL_SUBMISSION_PORT says otherwise
CERTIFICATE_DAYS = 365


async def seed(ctx: Context, ports: tuple[int, int] = SINK_PORTS) -> bool:
    """Seeds only an empty database, the gateways pointing at `ports` (own, relay);
    returns whether it did."""
    own_port, relay_port = ports
    if await operator.list_dealers(ctx):
        return False
    await operator.create_dealer(ctx, login=OWNER[0], password=OWNER[1], title="Platform owner",
                                 domain="owner.example", permissions=permissions.everything())
    await operator.create_relay(ctx, owner_login=OWNER[0], gateway=GatewayInput(
        label="Platform relay", provider="mandrill_smtp", leasable=True,
        params=SmtpParamsSchema().load({"mail.smtp.host": "localhost",
                                        "mail.smtp.port": relay_port,
                                        "default_from_address": "no-reply@owner.example"})))
    dealer = await operator.create_dealer(ctx, login=DEALER[0], password=DEALER[1],
                                          title="Demo dealer", domain="dealer.example",
                                          parent_login=OWNER[0],
                                          permissions=permissions.everything())
    # A sender identity, as a dealer has once it has used the panel: the panel's
    # Settings page requires email_from before it saves anything.
    await sender_identity.replace(ctx, dealer.id, sender_identity.SenderIdentity(
        email_from="Demo dealer <alerts@dealer.example>", email_footer="-- Demo dealer",
        email_special=None, sms_originator="Demo dealer", caller_id=None), OPERATOR)
    own_id = await operator.create_relay(ctx, owner_login=DEALER[0], gateway=GatewayInput(
        label="Own SMTP", provider="smtp", leasable=False,
        params=SmtpParamsSchema().load({"mail.smtp.host": "localhost",
                                        "mail.smtp.port": own_port,
                                        "default_from_address": "alerts@dealer.example"})))
    await operator.bind_as_operator(ctx, login=DEALER[0], gateway_id=own_id)
    return True


async def demo_key(ctx: Context) -> str:
    """The demo dealer's submission key, created on first use (also in a database seeded
    by an older version); both ways in (HTTP and SMTP) print lines with it."""
    await keys_usecases.ensure_key(ctx, DEALER[0], DEMO_KEY, "demo")
    return DEMO_KEY


async def seed_all(ctx: Context, ports: tuple[int, int] = SINK_PORTS) -> bool:
    seeded = await seed(ctx, ports)
    await demo_key(ctx)
    return seeded


def demo_submission(settings: Settings) -> Settings:
    """SMTP submission on 127.0.0.1:2587 unless the environment chose a port, with a
    self-signed certificate for localhost made in the data directory unless the
    environment gave one."""
    changes: dict[str, object] = {}
    if settings.submission_port is None:
        changes["submission_port"] = SUBMISSION_PORT
    if settings.submission_tls_cert is None:
        changes["submission_tls_cert"], changes["submission_tls_key"] = self_signed(
            settings.data_dir / "demo-submission")
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """cert.pem and key.pem for localhost, 127.0.0.1 and ::1 in `folder`, made again
    when missing or about to expire. Clients trust the certificate itself (it is its
    own CA), e.g. `swaks --tls-ca-path cert.pem`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    now = dt.datetime.now(dt.UTC)
    if cert_path.exists() and key_path.exists():
        try:
            found = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if found.not_valid_after_utc > now + dt.timedelta(days=7):
                return cert_path, key_path
        except ValueError:
            pass
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "navixy-panel demo")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERTIFICATE_DAYS))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256()))
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def submission_lines(key: str, port: int, cert: Path | None) -> list[str]:
    """How to submit a message as the sub-dealer over SMTP, with swaks and with Python."""
    ca = shlex.quote(str(cert.resolve())) if cert is not None else None
    lines = [f"SMTP submission on 127.0.0.1:{port}: STARTTLS, then AUTH with the login "
             f"{DEALER[0]!r} and the submission key as the password",
             "try (submits a message as the sub-dealer; the sink prints it once delivered):",
             f"  swaks --server 127.0.0.1 --port {port}"
             + (f" --tls --tls-verify --tls-ca-path {ca}" if ca else "")
             + f" --auth PLAIN --auth-user {DEALER[0]} --auth-password {key}"
             " --from app@example.com --to customer@example.com"
             " --header 'Subject: Hello over SMTP'"]
    tls = (f" s.starttls(context=ssl.create_default_context(cafile={str(cert.resolve())!r}));"
           if cert is not None else "")
    lines.append(
        "  python3 -c \"import smtplib, ssl; s = smtplib.SMTP('127.0.0.1', "
        f"{port});{tls} s.login('{DEALER[0]}', '{key}'); print(s.sendmail('app@example.com', "
        "['customer@example.com'], 'Subject: Hello over SMTP\\r\\n\\r\\nSent with "
        "smtplib.\\r\\n')); s.quit()\"")
    return lines


def demo_ctx(port: int, smtp_ports: tuple[int, int] = SINK_PORTS
             ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        servers = await sink.start(smtp_ports)
        try:
            context = app[keys.CONTEXT]
            seeded = await seed_all(context, smtp_ports)
            submission = app.get(SUBMISSION)
            lines = None
            if submission is not None and "starttls" in submission.ports:
                lines = submission_lines(DEMO_KEY, submission.ports["starttls"],
                                         context.settings.submission_tls_cert)
            _print(seeded, port, sink.describe(servers), lines)
            yield
        finally:
            await sink.stop(servers)

    return ctx


def _print(seeded: bool, port: int, sink_line: str | None,
           submission: list[str] | None = None) -> None:
    base = f"http://127.0.0.1:{port}/v2/panel"
    print("demo data " + ("seeded" if seeded else "already present (database not empty)"))
    print(f"  platform owner: login {OWNER[0]!r} password {OWNER[1]!r}")
    print(f"  sub-dealer:     login {DEALER[0]!r} password {DEALER[1]!r}")
    if sink_line:
        print(sink_line)
    print("try (logs in as the sub-dealer and lists its gateways):")
    print(f"  H=$(curl -s -d 'login={DEALER[0]}&password={DEALER[1]}' {base}/account/auth"
          " | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"hash\"])')"
          f" && curl -s -H \"Authorization: NVX $H\" -X POST {base}/gateways/email/list")
    print(f"  sub-dealer's submission key: {DEMO_KEY}")
    print("try (queues a message for the sub-dealer; the sink prints it once delivered):")
    print(f"  curl -s -H 'Authorization: Bearer {DEMO_KEY}' -H 'Content-Type: application/json'"
          " -d '{\"to\": [\"customer@example.com\"], \"subject\": \"Hello\", "
          "\"text\": \"A first message.\"}' "
          f"http://127.0.0.1:{port}/mail/v1/messages", flush=True)
    for line in submission or ():
        print(line, flush=True)


def seed_and_print(url: str, settings: Settings, port: int,
                   smtp_ports: tuple[int, int] = SINK_PORTS) -> None:
    """For `serve --workers N`: the parent seeds once and runs the sink, before the
    workers start (they open the submission port, sharing it)."""
    seeded = with_context(url, settings, partial(seed_all, ports=smtp_ports))
    lines = None
    if settings.submission_port is not None:
        lines = submission_lines(DEMO_KEY, settings.submission_port,
                                 settings.submission_tls_cert)
    _print(seeded, port, sink.start_in_thread(smtp_ports), lines)
