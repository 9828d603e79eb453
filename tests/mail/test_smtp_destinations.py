"""Outbound SMTP destinations: what a gateway may point at, checked when it
is saved (both faces and the command line) and again at every send, where the
connection goes only to an address checked then, with TLS still verified against
the host name.

Apps here are built with `smtp_allowed_networks=()`, the production default, unless
a test opens a network; the shared `settings` fixture opens loopback for the
rest of the suite, whose SMTP servers listen there.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

from navixy_panel.settings import Settings, SettingsError
from tests.support.api import Api
from tests.support.net import free_port
from tests.support.processes import run
from tests.support.smtp import aiosmtpd_server, server_context, smtp_server
from tests.support.webitel import DOMAIN, SETTINGS, webitel_login

HOST_PARAMETER = "gateway.params.mail.smtp.host"

# (host as a dealer types it, what the refusal calls it)
REFUSED = [
    ("169.254.169.254", "link-local"),          # the cloud metadata address
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.0.10", "private"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("127.0.0.1", "loopback"),
    ("2130706433", "(127.0.0.1) is a loopback"),  # decimal integer
    ("0x7f000001", "(127.0.0.1) is a loopback"),  # hexadecimal integer
    ("017700000001", "(127.0.0.1) is a loopback"),  # octal integer
    ("0x7f.1", "(127.0.0.1) is a loopback"),      # short dotted, hex part
    ("127.1", "(127.0.0.1) is a loopback"),       # short dotted
    ("0251.0376.0251.0376", "(169.254.169.254) is a link-local"),  # octal parts
    ("127.0.0.1.", "loopback"),                   # trailing dot
    ("[::ffff:10.0.0.1]", "(10.0.0.1) is a private"),  # IPv4-mapped, bracketed
    ("::ffff:127.0.0.1", "(127.0.0.1) is a loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("64:ff9b::a9fe:a9fe", "link-local"),         # NAT64 of 169.254.169.254
    ("2002:a00:1::1", "private"),                 # 6to4 of 10.0.0.1
    ("fd00::1", "private"),                       # RFC 4193
    ("[::1]", "loopback"),
    ("fe80::1", "link-local"),
    ("fd00:ec2::254", "private"),                 # EC2's IPv6 metadata address
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("255.255.255.255", "reserved"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.1", "reserved"),
    ("2001:db8::1", "reserved"),
    ("metadata.google.internal", "cloud metadata"),
    ("metadata.google.internal.", "cloud metadata"),
    ("Metadata.Google.Internal", "cloud metadata"),
    ("metadata", "cloud metadata"),
    ("metadata.goog", "cloud metadata"),
    ("instance-data", "cloud metadata"),
    ("instance-data.ec2.internal", "cloud metadata"),
    ("localhost", "resolves only to addresses"),  # a name: judged by what it resolves to
]


def gateway(host: str, **params: Any) -> dict[str, Any]:
    return {"label": "relay", "provider": "smtp", "leasable": False,
            "params": {"mail.smtp.host": host, **params}}


def webitel_document(host: str, port: int = 25) -> dict[str, Any]:
    return {"provider": "smtp", "description": "Relay", "from": "relay@d1.example",
            "options": {"host": host, "port": port, "secure": False, "auth": None}}


@dataclass
class Dealer:
    """d1 (domain my.webitel.com) logged in on both faces."""

    api: Api
    hash: str
    keys: tuple[str, str]
    id: int

    async def webitel(self, method: str, path: str = SETTINGS,
                      json: Any = None) -> tuple[int, Any]:
        response = await self.api.client.request(
            method, path, json=json, headers={"X-Key": self.keys[0],
                                              "X-Access-Token": self.keys[1]})
        return response.status, await response.json()

    async def navixy_send(self, gateway_id: int) -> tuple[int, dict[str, Any]]:
        return await self.api.call("gateways/email/send_email", hash=self.hash,
                                   json={"to": "ops@example.org", "gateway_id": gateway_id})


async def dealer(api: Api, login: str = "d1", **kwargs: Any) -> Dealer:
    dealer_id = await api.dealer(login, domain=DOMAIN if login == "d1" else None, **kwargs)
    keys = await webitel_login(api, login) if login == "d1" else ("", "")
    return Dealer(api, await api.login(login), keys, dealer_id)


@pytest.fixture
async def closed(make_client, db) -> Api:  # type: ignore[no-untyped-def]
    """An app with the production default: no network opened."""
    return Api(await make_client(smtp_allowed_networks=()), db)


@dataclass
class FakeDns:
    """Answers for names under `.test`; each lookup takes the next answer (the last
    one repeats); an empty answer is "no such name". Other names go to the real resolver."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)


@pytest.fixture
async def fake_dns(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDns]:
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    dns = FakeDns()

    async def getaddrinfo(host: Any, port: Any, *, family: int = 0, type: int = 0,
                          proto: int = 0, flags: int = 0) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in dns.answers:
            return await real(host, port, family=family, type=type, proto=proto, flags=flags)
        dns.lookups.append(name)
        queue = dns.answers[name]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        number = int(port or 0)
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, number, 0, 0)) if ":" in a
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, number))
                for a in addresses]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    yield dns


# -- at save ------------------------------------------------------------------------------

@pytest.mark.parametrize(("host", "called"), REFUSED, ids=[host for host, _ in REFUSED])
async def test_refused_at_create_and_update_on_both_faces(closed: Api, host: str,
                                                          called: str) -> None:
    d1 = await dealer(closed)
    # Webitel's POST creates when the domain has no settings yet …
    before = await closed.snapshot()
    status, body = await d1.webitel("POST", json=webitel_document(host))
    assert status == 400, body
    assert body["info"].startswith("options.host: Not allowed: "), body
    assert called in body["info"]
    assert await closed.snapshot() == before
    # … and replaces them once it has.
    assert (await d1.webitel("POST", json=webitel_document("smtp.example.com")))[0] == 200
    created = (await closed.ok("gateways/email/create", hash=d1.hash,
                               json={"gateway": gateway("smtp.example.com")}))["id"]
    before = await closed.snapshot()

    body = await closed.error("gateways/email/create", 7, 400, hash=d1.hash,
                              json={"gateway": gateway(host)})
    [error] = body["errors"]
    assert error["parameter"] == HOST_PARAMETER
    assert error["error"].startswith("Not allowed: ") and called in error["error"], error
    body = await closed.error("gateways/email/update", 7, 400, hash=d1.hash,
                              json={"gateway": {"id": created, **gateway(host)}})
    assert [e["parameter"] for e in body["errors"]] == [HOST_PARAMETER]
    for method in ("POST", "PUT"):
        status, body = await d1.webitel(method, json=webitel_document(host))
        assert status == 400, (method, body)
        assert body["info"].startswith("options.host: Not allowed: "), body
    assert await closed.snapshot() == before


@pytest.mark.parametrize("host", ["8.8.8.8", "[2001:4860:4860::8888]", "smtp.example.com",
                                  "no-such-host.invalid"])
async def test_public_and_unresolvable_hosts_are_accepted(closed: Api, host: str) -> None:
    d1 = await dealer(closed)
    await closed.ok("gateways/email/create", hash=d1.hash, json={"gateway": gateway(host)})
    assert (await d1.webitel("POST", json=webitel_document(host)))[0] == 200


async def test_allowed_networks_open_only_what_they_name(make_client, db) -> None:  # type: ignore[no-untyped-def]
    api = Api(await make_client(smtp_allowed_networks=("10.1.2.0/24", "fd12::/64")), db)
    d1 = await dealer(api)
    for host in ("10.1.2.3", "::ffff:10.1.2.3", "fd12::5", "[fd12::6]"):
        await api.ok("gateways/email/create", hash=d1.hash, json={"gateway": gateway(host)})
    for host in ("10.1.3.1", "127.0.0.1", "fd13::1", "169.254.169.254",
                 "metadata.google.internal"):
        await api.error("gateways/email/create", 7, 400, hash=d1.hash,
                        json={"gateway": gateway(host)})


async def test_a_name_is_judged_by_what_it_resolves_to_when_saved(closed: Api,
                                                                  fake_dns: FakeDns) -> None:
    fake_dns.answers.update({"internal.test": [["10.0.0.5", "fd00::5"]],
                             "mixed.test": [["10.0.0.5", "8.8.8.8"]],
                             "nowhere.test": [[]]})
    d1 = await dealer(closed)
    body = await closed.error("gateways/email/create", 7, 400, hash=d1.hash,
                              json={"gateway": gateway("internal.test")})
    assert body["errors"] == [{"parameter": HOST_PARAMETER, "error": (
        "Not allowed: internal.test resolves only to addresses the service may not connect "
        "to (loopback, private, link-local, …).")}]
    assert await d1.webitel("POST", json=webitel_document("internal.test")) == (400, {
        "status": "error", "info": "options.host: Not allowed: internal.test resolves only "
        "to addresses the service may not connect to (loopback, private, link-local, …)."})
    # Some address allowed: accepted (a send connects only to that one); no answer:
    # accepted, since it is checked again at every send.
    for host in ("mixed.test", "nowhere.test"):
        await closed.ok("gateways/email/create", hash=d1.hash, json={"gateway": gateway(host)})


# -- the command line -----------------------------------------------------------------------

@pytest.mark.parametrize(("host", "message"), [
    ("169.254.169.254", "mail.smtp.host: Not allowed: 169.254.169.254 is a link-local address."),
    ("metadata.google.internal",
     "mail.smtp.host: Not allowed: metadata.google.internal is a cloud metadata service."),
])
async def test_cli_gateway_create_refuses_a_metadata_destination(
        api: Api, database_url: str, host: str, message: str) -> None:
    await api.dealer("owner")
    done = run("gateway", "create", "--owner", "owner", "--label", "relay", "--params",
               f'{{"mail.smtp.host": "{host}"}}', database_url=database_url,
               env={"NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS": ""})
    assert done.returncode == 1, done.stdout
    assert done.stderr.splitlines()[-1] == f"navixy-panel: {message}"
    assert await api.sql("SELECT id FROM email_gateways") == []


async def test_cli_follows_the_allowed_networks(api: Api, database_url: str) -> None:
    await api.dealer("owner")
    done = run("gateway", "create", "--owner", "owner", "--label", "internal relay",
               "--params", '{"mail.smtp.host": "10.1.2.3"}', database_url=database_url,
               env={"NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS": "10.1.2.0/24"})
    assert done.returncode == 0, done.stderr


# -- at send --------------------------------------------------------------------------------

async def test_a_gateway_stored_while_loopback_was_open_is_refused_at_send(
        closed: Api) -> None:
    with smtp_server() as server:
        d1 = await dealer(closed)
        gateway_id = await closed.gateway(d1.id, "relay", **{  # stored as an earlier app did
            "mail.smtp.host": "127.0.0.1", "mail.smtp.port": server.port,
            "default_from_address": "relay@d1.example"})
        await closed.bind(d1.id, gateway_id)
        await closed.dealer("child", parent="d1")
        child = await closed.login("child")
        leased_id = await closed.gateway(d1.id, "leasable", leasable=True, **{
            "mail.smtp.host": "localhost", "mail.smtp.port": server.port,
            "default_from_address": "relay@d1.example"})
        assert await d1.navixy_send(gateway_id) == (400, {"success": False, "status": {
            "code": 209, "description": "Failed sending email: the destination is not "
                                        "allowed: 127.0.0.1 is a loopback address"}})
        assert await d1.webitel("POST", f"{SETTINGS}/test/ops@example.org") == (502, {
            "status": "error", "info": "Failed sending email: the destination is not "
                                       "allowed: 127.0.0.1 is a loopback address"})
        # Through the parent's relay the child learns only the kind of failure.
        assert await closed.call("gateways/email/send_email", hash=child, json={
            "to": "ops@example.org", "gateway_id": leased_id}) == (400, {
                "success": False, "status": {
                    "code": 209,
                    "description": "Failed sending email: the destination is not allowed"}})
    assert server.messages == []


async def test_a_send_connects_only_to_a_checked_address_from_one_lookup(
        make_client, db, fake_dns: FakeDns) -> None:  # type: ignore[no-untyped-def]
    """relay.test answers with a refused address first, then an allowed one; later
    lookups (a rebinding) would answer the refused one only. The message goes to the
    allowed address, from the one lookup, and nothing reaches the refused one."""
    api = Api(await make_client(smtp_allowed_networks=("127.0.0.2/32",)), db)
    port = free_port("127.0.0.2")
    fake_dns.answers["relay.test"] = [["127.0.0.1", "127.0.0.2"], ["127.0.0.1"]]
    with aiosmtpd_server(host="127.0.0.2", port=port) as allowed, \
            aiosmtpd_server(host="127.0.0.1", port=port) as internal:
        d1 = await dealer(api)
        gateway_id = await api.gateway(d1.id, "relay", **{
            "mail.smtp.host": "relay.test", "mail.smtp.port": port,
            "default_from_address": "relay@d1.example"})
        assert await d1.navixy_send(gateway_id) == (200, {"success": True})
    assert fake_dns.lookups == ["relay.test"]
    assert len(allowed.messages) == 1
    assert internal.messages == []


@pytest.fixture
def trusted_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> trustme.CA:
    """A CA the service trusts (OpenSSL reads SSL_CERT_FILE when a context is made)."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    return ca


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
@pytest.mark.parametrize("certified", ["localhost", "other.example"])
async def test_tls_to_a_pinned_address_verifies_the_host_name(
        api: Api, trusted_ca: trustme.CA, mode: str, certified: str) -> None:
    """The connection goes to the address `localhost` resolved to, and the certificate
    must still name `localhost` (it carries no IP address, so a check against the
    pinned address would fail too)."""
    context = server_context(trusted_ca, certified)
    tls = {"starttls": context} if mode == "starttls" else {"implicit_tls": context}
    with aiosmtpd_server(**tls) as server:  # type: ignore[arg-type]
        d1 = await dealer(api)
        params: dict[str, Any] = (
            {"mail.smtp.port": server.port, "mail.smtp.starttls.enable": True,
             "mail.smtp.starttls.required": True} if mode == "starttls"
            else {"mail.smtp.use_ssl": True, "mail.smtp.ssl.port": server.port})
        gateway_id = (await api.ok("gateways/email/create", hash=d1.hash, json={
            "gateway": gateway("localhost", default_from_address="relay@d1.example",
                               **params)}))["id"]
        status, body = await d1.navixy_send(gateway_id)
    if certified == "localhost":
        assert (status, body) == (200, {"success": True})
        [received] = server.messages
        assert received.tls is True
    else:
        assert (status, body["status"]["code"]) == (400, 209), body
        assert body["status"]["description"] == (
            f"Failed sending email: TLS with localhost:{server.port} failed (certificate "
            "verify failed: Hostname mismatch, certificate is not valid for 'localhost'.)")
        assert server.messages == []


# -- settings -------------------------------------------------------------------------------

def test_allowed_networks_setting() -> None:
    assert Settings.from_env({}).smtp_allowed_networks == ()
    assert Settings.from_env({"NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS":
                              " 10.1.2.0/24, fd12::/64 ,192.0.2.7"}).smtp_allowed_networks == (
        "10.1.2.0/24", "fd12::/64", "192.0.2.7/32")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS":
                           "10.1.2.0/24,10.1.2.3/24,intranet"})
    assert caught.value.problems == [
        "NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS: not networks in CIDR notation (e.g. "
        "10.1.2.0/24): '10.1.2.3/24', 'intranet'"]
