"""Dealer passwords: argon2id, always verified in a worker thread.

argon2 takes tens of milliseconds of CPU by design; on the event loop it would
stall every other request for that long. Verifications also run one or a few at
a time in their own small pool, so a burst of logins queues behind itself
instead of taking every core from the requests that do not need a hash.

Cost: OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane), about 25 ms of one
core here. The library default (64 MiB, 3 passes, 4 lanes) costs ~170 ms of CPU
per login, so 10 logins/s alone would need most of a 2-core machine. Hashes
carry their own parameters, so older hashes keep verifying.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_pool = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) // 2),
                           thread_name_prefix="argon2")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


# A real argon2id hash (of a random string nobody knows, with the library's
# same cost as new hashes) to verify against when the login is unknown, so that an
# unknown login costs the same time as a wrong password.
_DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$cvDAZ9NZB4Y5kbt0d5Mx5A"
    "$k0Ak01yh6nZywfnv/eUN6wblvhQTX2tx8okKtu5Lo8c"
)


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """False for a wrong password and for `stored_hash=None` (unknown login), in equal time."""
    return await asyncio.get_running_loop().run_in_executor(_pool, _verify, stored_hash,
                                                            password)


async def hash_password_async(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, _hasher.hash, password)
