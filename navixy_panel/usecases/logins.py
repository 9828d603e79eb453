"""Logins and sessions, shared by the Navixy (`account/*`) and Webitel (`/login`,
`/logout`, every `/api/v2` call) faces.

A login attempt first takes a place in the failure counts (per login and per
client address, shared by both faces and every instance) in one short
transaction: when either count is full, the attempt is refused before any
password is checked. The slow argon2 check then runs with no pooled
connection held, and a right password gives its places back. So of any number
of simultaneous attempts, at most the limits' remainder are checked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from navixy_panel.cache import Tag
from navixy_panel.domain.caller import Caller, LoggedIn
from navixy_panel.domain.dealers import LOGIN_BLOCKING_STATUSES
from navixy_panel.domain.errors import BadCredentials, Blocked, RateLimited, SessionEnded
from navixy_panel.security import tokens
from navixy_panel.services import dealers, rate_limits, sessions
from navixy_panel.usecases.context import Context


async def log_in(ctx: Context, *, login: str, password: str, client_address: str,
                 kind: str = "navixy", domain: str | None = None,
                 new_secret: Callable[[], str] = tokens.new_session_hash,
                 ttl_seconds: int | None = None) -> LoggedIn:
    """`domain`, when given (Webitel's `login@domain`), must be the dealer's own."""
    settings = ctx.settings
    window = settings.login_failure_window_seconds
    limits = ((login_failures_bucket(login), settings.login_failures_per_login),
              (address_failures_bucket(client_address), settings.login_failures_per_address))
    reserved: list[tuple[str, dt.datetime]] = []
    async with ctx.unit_of_work() as uow:
        for bucket, limit in limits:
            window_start = await rate_limits.reserve(uow.session, bucket, window, limit)
            if window_start is None:
                raise RateLimited()  # rolls back: this attempt takes no place at all
            reserved.append((bucket, window_start))
        found = await dealers.get_credentials(uow.session, login)
    # An unknown login is verified against a dummy hash: same answer, same time.
    if not await ctx.verify_password(found.password_hash if found else None, password):
        raise BadCredentials()
    assert found is not None
    if domain is not None and found.domain != domain:
        raise BadCredentials()
    secret = new_secret()
    async with ctx.unit_of_work() as uow:
        for bucket, window_start in reserved:
            await rate_limits.give_back(uow.session, bucket, window_start)
        blocked = found.block_status in LOGIN_BLOCKING_STATUSES
        if not blocked:
            expires_at = await sessions.create_session(
                uow.session, dealer_id=found.dealer_id, kind=kind, secret=secret,
                ttl_seconds=ttl_seconds or settings.session_ttl_seconds)
    if blocked:
        raise Blocked()
    return LoggedIn(found.dealer_id, login, found.domain, found.permissions, secret, expires_at)


def login_failures_bucket(login: str) -> str:
    """The counter of a login's failures, keyed by the login as typed (so an unknown
    login is counted too) and shared by both faces."""
    return f"login-failures:{login}"


def address_failures_bucket(address: str) -> str:
    """The counter of a client address's failures: panel logins on both faces and SMTP
    AUTH (`usecases/submission_logins.py`) share it."""
    return f"address-failures:{address}"


def session_key(kind: str, secret: str) -> str:
    """Cached sessions are found by the secret itself: hashing it on every call cost
    more than the rest of a cached lookup (its digest is what the database holds)."""
    return secret if kind == "navixy" else f"{kind}:{secret}"


def session_tags(caller: Caller) -> tuple[Tag, ...]:
    return (("dealer", caller.dealer_id), ("session", caller.session_digest))


async def resolve(ctx: Context, secret: str, kind: str = "navixy") -> Caller:
    """The live session's dealer: from the cache, else one statement (then cached)."""
    async def load() -> Caller | None:
        async with ctx.unit_of_work() as uow:
            return await sessions.get_caller(uow.session, secret, kind)

    caller = await ctx.caches.sessions.get_or_load(session_key(kind, secret), load, session_tags)
    if caller is None or not caller.is_live():
        raise SessionEnded()
    return caller


async def log_out(ctx: Context, caller: Caller) -> None:
    async with ctx.unit_of_work() as uow:
        await sessions.delete_session(uow.session, caller.session_digest)
        uow.changes.sessions.add(caller.session_digest)
