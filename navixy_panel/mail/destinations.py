"""Where a gateway may send: the outbound destination policy.

Gateways are configured by tenants, so without a policy a dealer could aim the
service at the platform's own network: the cloud metadata service, the
database next door, or a port scan of internal hosts through test sends. A
destination is refused when it is, or resolves to, a loopback, private,
carrier-grade NAT, link-local, multicast, unspecified or reserved address, in
whatever spelling the C library would read as an address, or when it is a
cloud metadata name. The operator opens specific networks
(`NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS`).

It is checked twice: when a gateway is saved (`check_gateway`: an address, or a
name that resolves only to refused addresses, is invalid input; a name that
does not resolve is accepted, since DNS may change), and at every send
(`resolve_for_send`: the name is resolved once and the connection goes to one
of the addresses checked here, so a DNS answer that changes in between, a
rebinding, cannot redirect it).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from navixy_panel.domain.errors import InvalidInput, SendFailed, SendFailure
from navixy_panel.domain.smtp_params import HOST, TOKEN_URL

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services by name, refused whatever they resolve to (their
# addresses are link-local, hence refused too, unless an operator opened them).
METADATA_NAMES = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog",  # Google Compute Engine
    "instance-data", "instance-data.ec2.internal",            # Amazon EC2
})

# How long saving a gateway waits for DNS: a slow or absent answer counts as
# "does not resolve" (accepted, and checked again at every send).
SAVE_LOOKUP_SECONDS = 2.0


def _networks(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Refused address classes, by the words an error message uses; from IANA's IPv4
# and IPv6 special-purpose address registries. Written out rather than left to
# `ipaddress.is_global`, whose answers changed between Python patch releases
# (and which calls multicast global); `is_global` stays as the last word for
# whatever the registries add.
REFUSED_CLASSES: tuple[tuple[str, tuple[Network, ...]], ...] = (
    ("loopback", _networks("127.0.0.0/8", "::1/128")),
    ("private", _networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("carrier-grade NAT", _networks("100.64.0.0/10")),
    ("link-local", _networks("169.254.0.0/16", "fe80::/10")),
    ("multicast", _networks("224.0.0.0/4", "ff00::/8")),
    ("unspecified", _networks("0.0.0.0/8", "::/128")),
    ("reserved", _networks(
        "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "240.0.0.0/4",  # 255.255.255.255 included
        "::/8",            # IPv4-compatible and other legacy forms (mapped ones are unwrapped)
        "100::/64",        # discard-only
        "2001::/32",       # Teredo: tunnels to an IPv4 host hidden in the address
        "2001:db8::/32",   # documentation
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "fec0::/10",       # deprecated site-local
    )),
)

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Characters of the dotted forms inet_aton() reads (decimal, octal, hex parts).
_INET_ATON_CHARS = re.compile(r"[0-9A-Fa-fXx.]+")


@dataclass(frozen=True, slots=True)
class Policy:
    """The refused classes minus what the operator opened."""

    allowed: tuple[Network, ...] = ()

    def refusal(self, address: Address) -> str | None:
        """The class that refuses `address` ("loopback", …), or None when it is allowed."""
        if any(address in network for network in self.allowed):
            return None
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            # The IPv6 form reaches the IPv4 host (dual-stack sockets, NAT64, 6to4):
            # it is judged by that host.
            return self.refusal(embedded)
        for name, networks in REFUSED_CLASSES:
            if any(address in network for network in networks):
                return name
        return None if address.is_global else "reserved"


@functools.lru_cache(maxsize=8)
def policy(allowed_networks: tuple[str, ...]) -> Policy:
    """The policy for `Settings.smtp_allowed_networks` (already validated there)."""
    return Policy(tuple(ipaddress.ip_network(cidr) for cidr in allowed_networks))


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _bare(host: str) -> str:
    """The host without URL brackets or the root's trailing dot (the validator
    lets both through: `[::1]`, `smtp.example.com.`)."""
    return host.strip().strip("[]").rstrip(".")


def literal(host: str) -> Address | None:
    """The address `host` spells, if it spells one.

    Besides the canonical forms, anything inet_aton() accepts is an address,
    because the C library's resolver reads it so: `2130706433`, `0x7f000001`,
    `017700000001`, `0x7f.1` and `127.1` are all 127.0.0.1. inet_aton() itself
    decides (no hand-written parser to disagree with it); the character check
    only keeps it from accepting trailing text after a space."""
    text = _bare(host)
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone is not the address
    except ValueError:
        pass
    if _INET_ATON_CHARS.fullmatch(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def is_metadata_name(host: str) -> bool:
    return _bare(host).lower() in METADATA_NAMES


def _address_of(sockaddr: tuple[Any, ...]) -> Address:
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])


def _describe(host: str, address: Address, refusal: str) -> str:
    judged = _embedded_ipv4(address) or address  # what the refusal is about
    spelled = "" if _bare(host) == str(judged) else f" ({judged})"
    return f"{host}{spelled} is a {refusal} address"


async def check_at_save(host: str, rules: Policy) -> None:
    """Refuses (InvalidInput on mail.smtp.host) a metadata name, a refused address,
    or a name that resolves right now only to refused addresses."""
    if is_metadata_name(host):
        raise InvalidInput.of(HOST, f"Not allowed: {host} is a cloud metadata service.")
    address = literal(host)
    if address is not None:
        refusal = rules.refusal(address)
        if refusal is not None:
            raise InvalidInput.of(HOST, f"Not allowed: {_describe(host, address, refusal)}.")
        return
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(SAVE_LOOKUP_SECONDS):
            found = await loop.getaddrinfo(_bare(host), None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        return  # does not resolve (now): checked again at every send
    addresses = {_address_of(info[4]) for info in found}
    if addresses and all(rules.refusal(a) is not None for a in addresses):
        raise InvalidInput.of(HOST, f"Not allowed: {host} resolves only to addresses the "
                              "service may not connect to (loopback, private, link-local, …).")


async def check_gateway(params: Mapping[str, Any], allowed_networks: tuple[str, ...]) -> None:
    """`check_at_save` for a gateway's params, under `Settings.smtp_allowed_networks`:
    the SMTP host, and the OAuth token URL's host (the client secret goes there)."""
    rules = policy(allowed_networks)
    await check_at_save(str(params[HOST]), rules)
    token_url = params.get(TOKEN_URL)
    if token_url:
        host = urlsplit(str(token_url)).hostname or ""
        try:
            await check_at_save(host, rules)
        except InvalidInput as refused:
            raise InvalidInput.of(TOKEN_URL, refused.errors[HOST]) from None


@dataclass(frozen=True, slots=True)
class Target:
    """A checked address to connect to: socket family and address as getaddrinfo gives it."""

    family: socket.AddressFamily
    sockaddr: tuple[Any, ...]

    @property
    def address(self) -> str:
        return str(self.sockaddr[0])


async def resolve_for_send(host: str, port: int, rules: Policy) -> list[Target]:
    """Resolves `host` once and returns its allowed addresses, in the resolver's order;
    the caller connects only to these. A metadata name, or a host with no allowed
    address, is SendFailed(DESTINATION_REFUSED)."""
    if is_metadata_name(host):
        raise SendFailed(SendFailure.DESTINATION_REFUSED,
                         message=f"the destination is not allowed: {host} is a cloud "
                                 "metadata service")
    address = literal(host)
    loop = asyncio.get_running_loop()
    try:
        if address is not None:
            # The address as read above, not the spelling: what was checked is what is
            # connected to. Numeric, so no DNS; getaddrinfo only builds the socket address
            # (with an IPv6 zone's index).
            zone = _bare(host).partition("%")[2]
            numeric = f"{address}%{zone}" if zone else str(address)
            found = await loop.getaddrinfo(numeric, port, type=socket.SOCK_STREAM,
                                           flags=socket.AI_NUMERICHOST)
        else:
            found = await loop.getaddrinfo(_bare(host), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise SendFailed(SendFailure.CONNECTION,
                         message=f"{host} could not be resolved") from None
    targets, refusals = [], []
    for family, _type, _proto, _name, sockaddr in found:
        refusal = rules.refusal(_address_of(sockaddr))
        if refusal is None:
            targets.append(Target(family, sockaddr))
        else:
            refusals.append(refusal)
    if not targets:
        why = (_describe(host, address, refusals[0]) if address is not None and refusals
               else f"{host} resolves only to addresses the service may not connect to")
        raise SendFailed(SendFailure.DESTINATION_REFUSED,
                         message=f"the destination is not allowed: {why}")
    return _unique(targets)


def _unique(targets: Iterable[Target]) -> list[Target]:
    seen: dict[tuple[Any, ...], Target] = {}
    for target in targets:
        seen.setdefault(target.sockaddr, target)
    return list(seen.values())
