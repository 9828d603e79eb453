"""SMTP AUTH on the submission listener: a dealer's login and one of its submission keys.

A wrong key counts against the client address's failure limit, the one panel logins
use on both faces, with the same guarantee: the attempt takes its place in the count
before the key is checked and gives it back only when the key was right, in one
transaction (the key check is a digest lookup, so unlike a password check it needs
no connection-free pause). So a client cannot try more keys from one address than
it could try panel passwords.

Only the address is counted, not the login: a stranger guessing keys for a dealer's
login must not be able to lock that dealer out of the panel.
"""

from __future__ import annotations

from navixy_panel.domain.delivery import KeyHolder
from navixy_panel.domain.errors import BadCredentials, RateLimited
from navixy_panel.services import rate_limits
from navixy_panel.usecases import keys
from navixy_panel.usecases.context import Context
from navixy_panel.usecases.logins import address_failures_bucket


async def authenticate(ctx: Context, *, login: str, secret: str,
                       client_address: str) -> KeyHolder:
    """BadCredentials for a wrong login or key (one answer for every reason),
    RateLimited once the address has used up its failures for the window."""
    settings = ctx.settings
    bucket = address_failures_bucket(client_address)
    holder: KeyHolder | None = None
    async with ctx.unit_of_work() as uow:
        window_start = await rate_limits.reserve(uow.session, bucket,
                                                 settings.login_failure_window_seconds,
                                                 settings.login_failures_per_address)
        if window_start is None:
            raise RateLimited()  # rolls back: this attempt takes no place at all
        try:
            holder = await keys.holder_in(uow, secret, login=login)
        except BadCredentials:
            pass  # the block commits: the failure keeps its place in the count
        else:
            await rate_limits.give_back(uow.session, bucket, window_start)
    if holder is None:
        raise BadCredentials()
    return holder
