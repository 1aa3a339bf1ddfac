"""Password rules and argon2id hashing, run in a worker thread so the event loop never blocks."""

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_password", "password_problems", "verify_password"]

# OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_SPECIALS = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# Verifying against this keeps an unknown email as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("dummy-password-for-timing")


def password_problems(password: str, email: str) -> list[str]:
    """Every rule the password breaks, as messages; empty when it is acceptable."""
    problems = []
    if not 8 <= len(password) <= 128:
        problems.append("Password must be 8 to 128 characters long")
    if any(ch.isspace() for ch in password):
        problems.append("Password must not contain whitespace")
    if not any(ch.isupper() for ch in password):
        problems.append("Password must contain an upper-case letter")
    if not any(ch.islower() for ch in password):
        problems.append("Password must contain a lower-case letter")
    if not any(ch.isdigit() for ch in password):
        problems.append("Password must contain a digit")
    if not any(ch in _SPECIALS or not ch.isalnum() and not ch.isspace() for ch in password):
        problems.append("Password must contain a special character")
    local_part = email.split("@", 1)[0].lower()
    if local_part and local_part in password.lower():
        problems.append("Password must not contain the email's local part")
    return problems


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash (unknown user) it still spends the time."""
    return await asyncio.to_thread(_verify, password_hash, password)
