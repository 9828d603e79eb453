"""SMTP passwords at rest: Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`.

Several keys may be configured, newest first: the first encrypts, all of them
decrypt (MultiFernet), so a key is rotated without downtime by prepending the
new one, running `navixy-panel rotate-secrets`, then dropping the old one.
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_FILE = "secret.key"
# Every message about a missing or malformed key ends with how to make one.
MAKE_ONE = "make one with `navixy-panel key generate`"
# Why the key is kept apart from the database backups: together they give away every
# stored SMTP password, apart a stolen backup gives away none.
KEEP_APART = ("keep it apart from the database backups (together they reveal the SMTP "
              "passwords; without the key those passwords are lost)")


class SecretKeyError(RuntimeError):
    """A missing, malformed or wrong key; raised at start, not at the first send."""


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretKeyError(
                f"no secret key configured (NAVIXY_PANEL_SECRET_KEY); {MAKE_ONE}")
        self._fernet = MultiFernet([_fernet(key, position) for position, key in enumerate(keys)])
        self._newest = base64.urlsafe_b64decode(keys[0].encode("ascii"))

    def derive_key(self, purpose: bytes) -> bytes:
        """A 32-byte key for another use (e.g. signing tokens), from the newest key, so
        every instance derives the same one without another setting."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"navixy-panel " + purpose).derive(self._newest)

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken:
            raise SecretKeyError("a stored SMTP password cannot be decrypted with the "
                                 "configured NAVIXY_PANEL_SECRET_KEY") from None

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypts with the newest key."""
        try:
            return self._fernet.rotate(bytes(token))
        except InvalidToken:
            raise SecretKeyError("a stored SMTP password cannot be decrypted with any "
                                 "configured key") from None


def _fernet(key: str, position: int) -> Fernet:
    try:
        if len(base64.urlsafe_b64decode(key.encode("ascii"))) != 32:
            raise ValueError
        return Fernet(key.encode("ascii"))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise SecretKeyError(
            f"NAVIXY_PANEL_SECRET_KEY entry {position + 1} is not a Fernet key (32 url-safe "
            f"base64-encoded bytes); {MAKE_ONE}") from None


def new_key() -> str:
    """A fresh key in the form NAVIXY_PANEL_SECRET_KEY takes."""
    return Fernet.generate_key().decode("ascii")


def load_or_create_key(data_dir: Path) -> str:
    """For the embedded default: one key generated once into the data directory, mode 0600.

    Written to a temporary file and linked into place, so a process starting at the
    same moment reads either no key (and makes its own attempt) or the whole key."""
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path.read_text().strip()
    key = new_key()
    descriptor, temporary = tempfile.mkstemp(dir=data_dir, prefix=".secret-key-")
    try:
        with os.fdopen(descriptor, "w") as handle:  # mkstemp creates it 0600
            handle.write(key + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process linked its key first: use that one
            return path.read_text().strip()
    finally:
        os.unlink(temporary)
    return key


def keys_for(configured: Sequence[str], data_dir: Path, embedded: bool) -> list[str]:
    """Configured keys win; the embedded default falls back to a generated key file."""
    if configured:
        return list(configured)
    if embedded:
        return [load_or_create_key(data_dir)]
    raise SecretKeyError("NAVIXY_PANEL_SECRET_KEY is required when DATABASE_URL is set; "
                         f"{MAKE_ONE}, and {KEEP_APART}")


class MissingSecretBox(SecretBox):
    """Stands in when no key is configured, for commands that may not need one (creating
    a dealer); the first use of a secret then fails with the reason."""

    def __init__(self, reason: SecretKeyError) -> None:
        self._reason = reason

    def derive_key(self, purpose: bytes) -> bytes:
        raise self._reason

    def encrypt(self, plaintext: str) -> bytes:
        raise self._reason

    def decrypt(self, token: bytes) -> str:
        raise self._reason

    def rotate(self, token: bytes) -> bytes:
        raise self._reason

