"""Bearer tokens and passwords: random tokens, stored only as hashes; argon2id for passwords.

Passwords use argon2id (RFC 9106, the memory-hard winner of the Password Hashing
Competition) with RFC 9106's second recommended parameter set: 64 MiB, 3 passes, 4 lanes.
It resists GPU and ASIC guessing better than scrypt at the same cost, because its memory
hardness holds against time-memory trade-offs; hashes written by the earlier scrypt code
still verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "crm_"  # noqa: S105 - a format tag, not a secret
_ARGON2 = PasswordHasher(
    time_cost=3, memory_cost=64 * 1024, parallelism=4, hash_len=32, salt_len=16, type=Type.ID
)
# Each check holds 64 MiB for ~0.4 s on two cores: at most this many run at once, so a login
# flood queues instead of taking the process's memory (4 x 64 MiB).
_CONCURRENT_CHECKS = threading.BoundedSemaphore(4)


def new_token() -> str:
    """A 256-bit random bearer token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens carry 256 bits of entropy: one SHA-256 makes the stored form useless to a thief.

    Looking the hash up with SQL equality is not a timing oracle worth having: an attacker
    who learns a prefix of a SHA-256 output learns nothing about a token that hashes to it.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    """argon2id with a random salt, in the standard PHC string format."""
    with _CONCURRENT_CHECKS:
        return _ARGON2.hash(password)


def check_password(password: str, stored: str) -> bool:
    """Constant-time check against an argon2id hash (or a legacy scrypt one)."""
    if stored.startswith("scrypt$"):
        return _check_scrypt(password, stored)
    try:
        with _CONCURRENT_CHECKS:
            return _ARGON2.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _decoy_hash() -> str:
    return _ARGON2.hash(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    """Spend what a real check costs, so an unknown login does not answer faster."""
    check_password(password, _decoy_hash())


def _check_scrypt(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:
        return False
    return hmac.compare_digest(candidate, base64.b64decode(digest))
