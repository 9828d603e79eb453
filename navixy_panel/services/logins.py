"""Password logins, shared by the Navixy (`account/auth`) and Webitel (`/login`) faces.

Failed attempts are counted per login and per client address in PostgreSQL;
past the limit every attempt is refused (code 15) before any password is
checked, so a blocked attacker learns nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from navixy_panel.db.models import LOGIN_BLOCKING_STATUSES
from navixy_panel.security.passwords import verify_password
from navixy_panel.services import dealers, rate_limits
from navixy_panel.settings import Settings


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    dealer: dealers.Credentials | None
    # Navixy code of the refusal: 12 bad credentials, 11 blocked, 15 too many failures.
    refusal: int | None


async def log_in(sessions: async_sessionmaker[AsyncSession], settings: Settings, *,
                 login: str, password: str, client_address: str) -> LoginOutcome:
    """Its own units of work (an exception to "services never commit"): a short read,
    the slow hash with no pooled connection held, then a short write of a failure.
    Holding a connection through argon2 let a burst of logins drain the pool."""
    window = settings.login_failure_window_seconds
    by_login, by_address = f"login-failures:{login}", f"address-failures:{client_address}"
    async with sessions() as session:
        if (await rate_limits.count(session, by_login, window)
                >= settings.login_failures_per_login
                or await rate_limits.count(session, by_address, window)
                >= settings.login_failures_per_address):
            return LoginOutcome(None, 15)
        found = await dealers.credentials(session, login)
    # An unknown login is verified against a dummy hash: same answer, same time.
    if not await verify_password(found.password_hash if found else None, password):
        async with sessions.begin() as session:
            await rate_limits.hit(session, by_login, window)
            await rate_limits.hit(session, by_address, window)
        return LoginOutcome(None, 12)
    assert found is not None
    if found.block_status in LOGIN_BLOCKING_STATUSES:
        return LoginOutcome(None, 11)
    return LoginOutcome(found, None)
