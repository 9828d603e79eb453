"""`serve --demo`: a platform owner with a leasable relay and a sub-dealer with
its own gateway, so a new user can call the API at once, and an SMTP sink on
the ports those gateways point at, which prints what a test send delivers.

The credentials are fixed so that the README's curl lines work as written;
they are for a local trial only, never for a reachable server. The seed (ids,
labels, ports) is what the README and the admin-panel harness rely on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial

from aiohttp import web

from navixy_panel.cli import sink
from navixy_panel.cli.common import with_context
from navixy_panel.domain import permissions
from navixy_panel.domain.caller import OPERATOR
from navixy_panel.domain.gateways import GatewayInput
from navixy_panel.domain.smtp_params import SmtpParamsSchema
from navixy_panel.http import keys
from navixy_panel.settings import Settings
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


def demo_ctx(port: int, smtp_ports: tuple[int, int] = SINK_PORTS
             ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        servers = await sink.start(smtp_ports)
        try:
            _print(await seed_all(app[keys.CONTEXT], smtp_ports), port,
                   sink.describe(servers))
            yield
        finally:
            await sink.stop(servers)

    return ctx


def _print(seeded: bool, port: int, sink_line: str | None) -> None:
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


def seed_and_print(url: str, settings: Settings, port: int,
                   smtp_ports: tuple[int, int] = SINK_PORTS) -> None:
    """For `serve --workers N`: the parent seeds once and runs the sink, before the
    workers start."""
    _print(with_context(url, settings, partial(seed_all, ports=smtp_ports)), port,
           sink.start_in_thread(smtp_ports))
