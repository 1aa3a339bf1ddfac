"""Password rules and argon2id hashing, run in worker threads so the event loop never blocks.

Each hash holds a core for tens of milliseconds, so a flood of logins could take every core
and starve the other routes. `HashingSlots` bounds them per process: at most `slots` hashes
run at once, in a pool of that many threads; a request that finds none free waits at most
`wait_seconds` in a queue of at most `max_waiting`, then gets 429 with `Retry-After: 1`
instead of queueing behind the flood.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shop_common.errors import TooManyRequests

__all__ = [
    "BUSY_MESSAGE",
    "HashingSlots",
    "hash_password",
    "password_problems",
    "verify_password",
]

# OWASP's argon2id minimum, never lowered: 19 MiB, 2 iterations, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
BUSY_MESSAGE = "Too many password checks at once, try again in a second"
BUSY_RETRY_AFTER = "1"
T = TypeVar("T")
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


class HashingSlots:
    """At most `slots` argon2 computations at once in this process, on their own threads
    (a cancelled request cannot leave more running); waiting for one is bounded in time
    (`wait_seconds`) and in length (`max_waiting`), beyond which the request is refused."""

    def __init__(self, slots: int, wait_seconds: float, *, max_waiting: int) -> None:
        self.slots = slots
        self.wait_seconds = wait_seconds
        self.max_waiting = max_waiting
        self.waiting = 0
        self._free = asyncio.Semaphore(slots)
        self._threads = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="argon2")

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """`work(*args)` on a hashing thread, once a slot is free; 429 when none frees soon."""
        async with self._slot():
            return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self._free.locked():
            await self._wait_for_a_slot()
        else:
            await self._free.acquire()  # free: returns at once
        try:
            yield
        finally:
            self._free.release()

    async def _wait_for_a_slot(self) -> None:
        if self.waiting >= self.max_waiting:
            raise _busy()
        self.waiting += 1
        try:
            await asyncio.wait_for(self._free.acquire(), self.wait_seconds)
        except TimeoutError:
            raise _busy() from None
        finally:
            self.waiting -= 1

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)


def _busy() -> TooManyRequests:
    return TooManyRequests(BUSY_MESSAGE, headers={"Retry-After": BUSY_RETRY_AFTER})


async def hash_password(slots: HashingSlots, password: str) -> str:
    return await slots.run(_hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(slots: HashingSlots, password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash (unknown user) it still spends the time."""
    return await slots.run(_verify, password_hash, password)
