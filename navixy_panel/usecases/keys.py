"""Submission keys: what lets the platform hand a dealer's mail to this service.

A key is `npk_` and 43 URL-safe characters (256 bits from the CSPRNG), shown once
at creation; only its SHA-256 is stored, which is enough for a secret that cannot be
guessed (no slow hash needed, unlike a password). It speaks for its dealer and for
that dealer's sub-dealers at any depth. The command line manages every dealer's
keys, the Navixy face a dealer's own; the submission faces authenticate with
`holder_in` inside their own unit of work, so the key check and what they queue are
one transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from navixy_panel.domain.dealers import NOT_BLOCKED
from navixy_panel.domain.delivery import KeyHolder
from navixy_panel.domain.errors import (
    BadCredentials,
    InvalidInput,
    NotFound,
    OutsideSubtree,
)
from navixy_panel.domain.fields import MAX_ID
from navixy_panel.services import dealers
from navixy_panel.services import keys as store
from navixy_panel.services.keys import StoredKey
from navixy_panel.usecases.context import Context, UnitOfWork

PREFIX = "npk_"
MAX_LABEL = 100
# Longer than any key: refused before it is hashed or matched.
MAX_SECRET = 200
_KEY_RE = re.compile(r"npk_[A-Za-z0-9_-]{43}")
# Longer than any login can usefully be: refused without a query.
_MAX_DEALER_REFERENCE = 1000


@dataclass(frozen=True, slots=True)
class CreatedKey:
    id: int
    key: str  # for the caller only, once: never stored, never logged


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as listed (never the key): times in ISO 8601, None when not yet."""

    id: int
    dealer_id: int
    dealer_login: str
    label: str
    created: str
    last_used: str | None
    revoked: str | None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def _check_label(label: str) -> None:
    if len(label) > MAX_LABEL:
        raise InvalidInput.of("label", f"Longer than maximum length {MAX_LABEL}.")
    if "\x00" in label:
        raise InvalidInput.of("label", "Must not contain the NUL character.")


async def _create(uow: UnitOfWork, dealer_id: int, label: str) -> CreatedKey:
    _check_label(label)
    secret = PREFIX + secrets.token_urlsafe(32)
    key_id = await store.create_key(uow.session, dealer_id=dealer_id, label=label,
                                    digest=_digest(secret))
    return CreatedKey(key_id, secret)


async def create_key(ctx: Context, dealer_id: int, label: str) -> CreatedKey:
    async with ctx.unit_of_work() as uow:
        return await _create(uow, dealer_id, label)


async def create_key_for_login(ctx: Context, login: str, label: str) -> CreatedKey:
    """The operator's `key create --dealer LOGIN`."""
    async with ctx.unit_of_work() as uow:
        dealer = await dealers.get_dealer(uow.session, login)
        if dealer is None:
            raise NotFound(f"dealer {login!r} does not exist")
        return await _create(uow, dealer.id, label)


async def ensure_key(ctx: Context, login: str, secret: str, label: str) -> None:
    """A key whose value is fixed in advance: only `serve --demo`'s, so the README's
    lines work as written (like the demo's fixed passwords, for a local trial only)."""
    if _KEY_RE.fullmatch(secret) is None:
        raise InvalidInput.of("key", "Not a submission key.")
    async with ctx.unit_of_work() as uow:
        dealer = await dealers.get_dealer(uow.session, login)
        if dealer is None:
            raise NotFound(f"dealer {login!r} does not exist")
        await store.create_key_if_absent(uow.session, dealer_id=dealer.id, label=label,
                                         digest=_digest(secret))


def _info(row: StoredKey) -> KeyInfo:
    return KeyInfo(row.id, row.dealer_id, row.dealer_login, row.label,
                   row.created_at.isoformat(),
                   None if row.last_used_at is None else row.last_used_at.isoformat(),
                   None if row.revoked_at is None else row.revoked_at.isoformat())


async def list_keys(ctx: Context, dealer_id: int | None, *,
                    include_revoked: bool = False) -> list[KeyInfo]:
    """A dealer's keys (None: every dealer's), in id order; revoked ones only when asked
    (the operator's listing), since a dealer can do nothing more with them."""
    async with ctx.unit_of_work() as uow:
        rows = await store.list_keys(uow.session, dealer_id=dealer_id,
                                     include_revoked=include_revoked)
    return [_info(row) for row in rows]


async def list_keys_for_login(ctx: Context, login: str | None) -> list[KeyInfo]:
    """The operator's `key list [--dealer LOGIN]`: revoked keys included."""
    if login is None:
        return await list_keys(ctx, None, include_revoked=True)
    async with ctx.unit_of_work() as uow:
        dealer = await dealers.get_dealer(uow.session, login)
        if dealer is None:
            raise NotFound(f"dealer {login!r} does not exist")
        rows = await store.list_keys(uow.session, dealer_id=dealer.id, include_revoked=True)
    return [_info(row) for row in rows]


async def revoke_key(ctx: Context, key_id: int, *, dealer_id: int | None) -> None:
    """With `dealer_id` (the Navixy face) only that dealer's live keys; another dealer's
    key answers as a missing one. None (the operator) any key; revoking twice is done."""
    async with ctx.unit_of_work() as uow:
        if not await store.revoke_key(uow.session, key_id=key_id, dealer_id=dealer_id):
            raise NotFound(f"key {key_id} does not exist" if dealer_id is None else None)


async def holder_in(uow: UnitOfWork, secret: str, *, login: str | None = None) -> KeyHolder:
    """Who `secret` speaks for, inside the caller's unit of work. One refusal for every
    reason (malformed, unknown, revoked, blocked dealer, or, for SMTP AUTH, a `login`
    that is not the key's dealer's), so a refusal tells a guesser nothing."""
    if len(secret) > MAX_SECRET or not _KEY_RE.fullmatch(secret):
        raise BadCredentials()
    found = await store.find_live_key(uow.db, _digest(secret))
    if (found is None or found.block_status != NOT_BLOCKED
            or (login is not None and found.login != login)):
        raise BadCredentials()
    if found.touch_due:
        await store.touch_key(uow.db, found.key_id)
    return KeyHolder(key_id=found.key_id, dealer_id=found.dealer_id)


async def authenticate(ctx: Context, secret: str, *, login: str | None = None) -> KeyHolder:
    """`holder_in` in a unit of work of its own."""
    async with ctx.unit_of_work() as uow:
        return await holder_in(uow, secret, login=login)


async def resolve_dealer(uow: UnitOfWork, holder: KeyHolder, dealer: str | int | None) -> int:
    """The dealer a submission is for: the key's own (None), or one it names by login or
    id within the key's subtree. Anything else, existing or not, is `OutsideSubtree`."""
    if dealer is None:
        return holder.dealer_id
    if isinstance(dealer, bool):  # an int to Python, never an id to a client
        raise OutsideSubtree()
    if isinstance(dealer, int):
        if dealer == holder.dealer_id:
            return dealer
        if not 1 <= dealer <= MAX_ID:
            raise OutsideSubtree()
    elif len(dealer) > _MAX_DEALER_REFERENCE or "\x00" in dealer:
        raise OutsideSubtree()
    found = await store.dealer_in_subtree(uow.db, root_id=holder.dealer_id,
                                          dealer=dealer)
    if found is None:
        raise OutsideSubtree()
    return found
