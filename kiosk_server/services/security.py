"""Passwords (argon2), token hashing, and field encryption for personal data at rest."""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# OWASP's argon2id setting (19 MiB, 2 passes): a sign-in costs tens of milliseconds and a
# worker's memory does not jump by the 64 MiB of argon2-cffi's default. Existing hashes keep
# verifying with their own parameters.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# A fixed hash of a random string, so a sign-in for an unknown account costs the same work.
_DUMMY_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$4ZqO6m6Ot5mZ3k4S5Y8Xq0mD1m4kqk9bJv6t2Hc8a2Q"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str, min_length: int) -> bool:
    """True when the password is too weak: short, or fewer than three character classes."""
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    return len(password) < min_length or classes < 3


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Keys:
    """The secrets: a key for keyed hashes (tokens, phone look-up) and an AES-GCM data key."""

    def __init__(self, secret_key: str, data_key_hex: str) -> None:
        self._mac_key = hashlib.sha256(("hall-mac:" + secret_key).encode()).digest()
        self._aead = AESGCM(bytes.fromhex(data_key_hex))

    def token_hash(self, token: str) -> str:
        return hmac.new(self._mac_key, b"token:" + token.encode(), hashlib.sha256).hexdigest()

    def lookup_hash(self, kind: str, value: str) -> str:
        return hmac.new(self._mac_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def encrypt(self, plaintext: str, context: bytes = b"") -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), context)

    def decrypt(self, blob: bytes, context: bytes = b"") -> str:
        return self._aead.decrypt(blob[:12], blob[12:], context).decode()
