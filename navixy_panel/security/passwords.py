"""Dealer passwords: argon2id, always verified in a worker thread.

argon2 takes tens of milliseconds of CPU by design; on the event loop it would
stall every other request for that long.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's current defaults


def hash_password(password: str) -> str:
    return _hasher.hash(password)


# A real argon2id hash (of a random string nobody knows, with the library's
# default cost) to verify against when the login is unknown, so that an
# unknown login costs the same time as a wrong password.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$ZvoilhXsHedtNv9cYw3H8w"
    "$4TJMFC/EGtb1W18YVSSYxhFL1hoOdzWYcnPtE6Jave4"
)


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """False for a wrong password and for `stored_hash=None` (unknown login), in equal time."""
    return await asyncio.to_thread(_verify, stored_hash, password)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)
