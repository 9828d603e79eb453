"""Dealers: creation and changes made by the operator's command line, and the
lookups the faces need."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel.db.models import Dealer
from navixy_panel.domain.dealers import (
    BLOCK_STATUSES,
    LOGIN_BLOCKING_STATUSES,
    NOT_BLOCKED,
    SENDER_FIELDS,
    Credentials,
    DealerRecord,
    DomainDealer,
    SenderIdentity,
)
from navixy_panel.domain.errors import AlreadyExists, InvalidInput, NotFound
from navixy_panel.services import sessions


async def get_credentials(session: AsyncSession, login: str) -> Credentials | None:
    row = (await session.execute(
        select(Dealer.id, Dealer.password_hash, Dealer.block_status, Dealer.permissions,
               Dealer.domain).where(Dealer.login == login)
    )).first()
    return None if row is None else Credentials(*row)


def _record(row: Dealer) -> DealerRecord:
    return DealerRecord(row.id, row.login, row.title, row.domain, row.parent_id,
                        row.block_status, row.bound_gateway_id)


async def get_dealer(session: AsyncSession, login: str) -> DealerRecord | None:
    row = await session.scalar(select(Dealer).where(Dealer.login == login))
    return None if row is None else _record(row)


async def list_dealers(session: AsyncSession) -> list[DealerRecord]:
    return [_record(row) for row in await session.scalars(select(Dealer).order_by(Dealer.id))]


async def get_sender_identity(session: AsyncSession, dealer_id: int, *,
                              lock: bool = False) -> SenderIdentity:
    query = select(*(getattr(Dealer, name) for name in SENDER_FIELDS)).where(
        Dealer.id == dealer_id)
    if lock:
        query = query.with_for_update()
    return SenderIdentity(*(await session.execute(query)).one())


async def update_sender_identity(session: AsyncSession, dealer_id: int,
                                 identity: SenderIdentity) -> None:
    await session.execute(update(Dealer).where(Dealer.id == dealer_id).values(
        **identity.fields()))


async def create_dealer(session: AsyncSession, *, login: str, password_hash: str,
                        title: str = "", domain: str | None = None,
                        parent_login: str | None = None,
                        permissions: dict[str, list[str]] | None = None,
                        block_status: str = NOT_BLOCKED) -> DealerRecord:
    _check_block_status(block_status)
    if await get_dealer(session, login) is not None:
        raise AlreadyExists(f"login {login!r} is already taken")
    parent_id = None
    if parent_login is not None:
        parent = await get_dealer(session, parent_login)
        if parent is None:
            raise NotFound(f"parent dealer {parent_login!r} does not exist")
        parent_id = parent.id
    domain = await _free_domain(session, domain)
    dealer = Dealer(login=login, password_hash=password_hash, title=title, domain=domain,
                    parent_id=parent_id, permissions=permissions or {},
                    block_status=block_status)
    session.add(dealer)
    await session.flush()
    return DealerRecord(dealer.id, login, title, domain, parent_id, block_status, None)


async def update_dealer(session: AsyncSession, login: str, *, password_hash: str | None = None,
                        title: str | None = None, domain: str | None = None,
                        permissions: dict[str, list[str]] | None = None,
                        block_status: str | None = None) -> DealerRecord:
    """A new password or a blocking status ends the dealer's sessions at once."""
    dealer = await session.scalar(select(Dealer).where(Dealer.login == login).with_for_update())
    if dealer is None:
        raise NotFound(f"dealer {login!r} does not exist")
    changes: dict[str, Any] = {}
    if password_hash is not None:
        changes["password_hash"] = password_hash
    if title is not None:
        changes["title"] = title
    if domain is not None:
        changes["domain"] = await _free_domain(session, domain, exclude_id=dealer.id)
    if permissions is not None:
        changes["permissions"] = permissions
    if block_status is not None:
        _check_block_status(block_status)
        changes["block_status"] = block_status
    if changes:
        await session.execute(update(Dealer).where(Dealer.id == dealer.id).values(**changes))
    if password_hash is not None or block_status in LOGIN_BLOCKING_STATUSES:
        await sessions.delete_dealer_sessions(session, dealer.id)
    await session.refresh(dealer)
    return _record(dealer)


async def _free_domain(session: AsyncSession, domain: str | None,
                       exclude_id: int | None = None) -> str | None:
    if domain is None:
        return None
    domain = domain.strip().lower()
    if not domain or len(domain) > 253:
        raise InvalidInput.of("domain", "must be 1 to 253 characters")
    owner = await session.scalar(select(Dealer.id).where(Dealer.domain == domain))
    if owner is not None and owner != exclude_id:
        raise AlreadyExists(f"domain {domain!r} belongs to another dealer")
    return domain


def _check_block_status(block_status: str) -> None:
    if block_status not in BLOCK_STATUSES:
        raise InvalidInput.of("block_status", f"must be one of {', '.join(BLOCK_STATUSES)}")


async def lock_domain(session: AsyncSession, dealer_id: int) -> None:
    """Serialises writes to one domain's email settings until the transaction ends, so
    two simultaneous upserts cannot both create a gateway."""
    await session.execute(select(func.pg_advisory_xact_lock(
        func.hashtextextended(f"domain-settings:{dealer_id}", 0))))


async def get_dealer_in_scope(session: AsyncSession, *, caller_id: int,
                              domain: str) -> DomainDealer | None:
    """The dealer owning `domain` if it is the caller or one of its sub-dealers at any
    depth; None otherwise, whether or not the domain exists (the caller learns nothing).

    Walks up from the domain's dealer (depth is small) instead of down from the caller
    (a platform owner's tree can hold every dealer)."""
    ancestors = (
        select(Dealer.id, Dealer.parent_id).where(Dealer.domain == domain)
        .cte("ancestors", recursive=True)
    )
    ancestors = ancestors.union_all(
        select(Dealer.id, Dealer.parent_id).join(ancestors, Dealer.id == ancestors.c.parent_id))
    query = (select(Dealer.id, Dealer.parent_id, Dealer.bound_gateway_id, Dealer.domain)
             .where(Dealer.domain == domain,
                    select(ancestors.c.id).where(ancestors.c.id == caller_id).exists()))
    row = (await session.execute(query)).first()
    if row is None:
        return None
    return DomainDealer(row.id, row.parent_id, row.bound_gateway_id, domain)
