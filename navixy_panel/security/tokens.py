"""Session hashes: random on the wire, only their SHA-256 in the database."""

from __future__ import annotations

import hashlib
import re
import secrets

_HASH_RE = re.compile(r"[0-9a-f]{32}")


def new_session_hash() -> str:
    """32 lowercase hex characters (128 bits from the CSPRNG), Navixy's format."""
    return secrets.token_hex(16)


def is_well_formed(session_hash: str) -> bool:
    return _HASH_RE.fullmatch(session_hash) is not None


def digest(session_hash: str) -> bytes:
    """A fast hash is enough: the input has 128 bits of entropy, nothing to brute-force."""
    return hashlib.sha256(session_hash.encode("ascii")).digest()
