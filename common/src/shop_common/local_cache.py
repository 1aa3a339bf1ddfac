"""A bounded cache in the process's memory: a TTL per entry, entries grouped to be dropped
together, hits and misses counted in `cache_requests_total{cache, result}`.

For answers a worker may reuse for a few seconds without asking their source (a token's
resolution), where a network round trip to Redis would cost as much as the answer itself.
What makes an entry wrong before its expiry is the caller's to say (`drop`, `drop_group`).
"""

import time
from collections.abc import Callable
from typing import Generic, NamedTuple, TypeVar

from shop_common.metrics import CACHE_REQUESTS

__all__ = ["LocalCache"]

V = TypeVar("V")


class _Entry(NamedTuple, Generic[V]):
    expires: float
    group: str
    value: V


class LocalCache(Generic[V]):
    """At most `max_entries` values, each until its own expiry; when full, the oldest goes.

    `version` changes with every drop. A value read from its source is stored with the
    version seen before the read: if anything was dropped meanwhile, it may be the answer
    the drop was meant to end, and it is not stored.
    """

    def __init__(
        self,
        *,
        max_entries: int,
        name: str,
        service: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.version = 0
        self._clock = clock
        self._entries: dict[str, _Entry[V]] = {}
        self._groups: dict[str, set[str]] = {}
        self._hit = CACHE_REQUESTS.labels(service, name, "hit")
        self._miss = CACHE_REQUESTS.labels(service, name, "miss")

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires <= self._clock():
            self._remove(key)
            entry = None
        (self._miss if entry is None else self._hit).inc()
        return None if entry is None else entry.value

    def set(self, key: str, value: V, *, ttl: float, group: str, version: int) -> None:
        """Keep `value` for `ttl` seconds, unless `ttl` is not positive or something was
        dropped since `version` was read."""
        if ttl <= 0 or version != self.version:
            return
        self._remove(key)
        while len(self._entries) >= self.max_entries:
            self._remove(next(iter(self._entries)))  # dicts keep insertion order
        self._entries[key] = _Entry(self._clock() + ttl, group, value)
        self._groups.setdefault(group, set()).add(key)

    def drop(self, key: str) -> None:
        self.version += 1
        self._remove(key)

    def drop_group(self, group: str, when: Callable[[V], bool] = lambda _: True) -> None:
        """Drop the entries of `group` whose value `when` accepts (all by default)."""
        self.version += 1
        for key in [k for k in self._groups.get(group, ()) if when(self._entries[k].value)]:
            self._remove(key)

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        keys = self._groups[entry.group]
        keys.discard(key)
        if not keys:
            del self._groups[entry.group]
