"""The read-through cache of product details in Redis, in two parts (issue 12).

- `product:{id}` holds only what the creator changes: id, creator, name, description,
  price, created_at (`CachedProduct`). Updates and deletes drop it once the write is allowed
  (owner, ETag), and again right after the request's transaction commits (see
  `invalidate`): a refused write leaves it, so nobody else can empty it at will.
- `product-live:{id}` holds what every order changes: version (the ETag), stock and
  modified_at. A committed write stores its new values there (`record`), through a script
  that keeps whichever is the higher version, so a reader refilling it from an older
  snapshot, or two orders committing in one order and recording in the other, can never put
  an older state back.

So a reserve or release leaves the product's entry alone and records one small value after
its commit, before its response (read your writes), and a detail read is two Redis reads
in one round trip (MGET) and no SQL. A Redis outage only costs speed: every failure is a
miss, or a skipped write that expires with the TTL, as a failed delete did before.
"""

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.catalogue.schemas import ProductRead
from shop_common.db import after_commit
from shop_common.redis import JsonCache

__all__ = ["CachedProduct", "LiveState", "ProductCache", "VersionedProduct", "make_etag"]

logger = logging.getLogger(__name__)

# KEYS: the live keys; ARGV: (version, value) per key, then the TTL. A key is written only
# when it is missing or holds a lower version (its value starts with the version).
_RECORD_SCRIPT = """
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
  local version = tonumber(ARGV[2 * i - 1])
  local current = redis.call('GET', key)
  if not current or tonumber(string.match(current, '^%d+')) < version then
    redis.call('SET', key, ARGV[2 * i], 'EX', ttl)
  end
end
return 1
"""


def make_etag(product_id: uuid.UUID, version: int) -> str:
    """A strong ETag naming one version of one product."""
    return f'"{product_id}-{version}"'


@dataclass(frozen=True)
class VersionedProduct:
    product: ProductRead
    version: int

    @property
    def etag(self) -> str:
        return make_etag(self.product.id, self.version)


class CachedProduct(BaseModel):
    """The part of a product only its creator changes: what `product:{id}` holds."""

    id: uuid.UUID
    creator_id: uuid.UUID
    name: str
    description: str
    price: int
    created_at: datetime


@dataclass(frozen=True)
class LiveState:
    """The columns every order changes, as one committed version of them."""

    product_id: uuid.UUID
    version: int
    stock: int
    modified_at: datetime

    def encode(self) -> str:
        return f"{self.version} {self.stock} {self.modified_at.isoformat()}"

    @classmethod
    def decode(cls, product_id: uuid.UUID, raw: bytes | str) -> "LiveState | None":
        text = raw.decode() if isinstance(raw, bytes) else raw
        try:
            version, stock, modified_at = text.split(" ")
            return cls(product_id, int(version), int(stock), datetime.fromisoformat(modified_at))
        except ValueError:
            return None


class ProductCache:
    def __init__(self, redis: Redis, *, prefix: str, service: str, ttl_seconds: int) -> None:
        self.entries = JsonCache(redis, prefix=prefix, name="product", service=service)
        self.redis = redis
        self.live_prefix = f"{prefix}product-live:"
        self.ttl_seconds = ttl_seconds
        self._record_script = redis.register_script(_RECORD_SCRIPT)

    async def get(self, product_id: uuid.UUID) -> tuple[CachedProduct | None, LiveState | None]:
        """Both parts, each None when missing or unreadable (then read the database), in one
        round trip."""
        cached, (raw_live,) = await self.entries.get_along(
            str(product_id), self.live_prefix + str(product_id)
        )
        live = None if raw_live is None else LiveState.decode(product_id, raw_live)
        if not isinstance(cached, dict):
            return None, live
        try:
            return CachedProduct.model_validate(cached["static"]), live
        except (ValidationError, KeyError):
            return None, live  # an entry in another shape (an older release's)

    async def set(self, product: CachedProduct) -> None:
        value = {"static": product.model_dump(mode="json")}
        await self.entries.set(str(product.id), value, ttl_seconds=self.ttl_seconds)

    async def record_now(self, states: Sequence[LiveState]) -> None:
        """Store these committed states, unless a higher version is stored already."""
        if not states or self.ttl_seconds <= 0:
            return
        keys = [self.live_prefix + str(state.product_id) for state in states]
        args: list[str | int] = []
        for state in states:
            args += [state.version, state.encode()]
        try:
            await self._record_script(keys=keys, args=[*args, self.ttl_seconds])
        except Exception as exc:  # any Redis failure only costs speed
            logger.warning("cache product-live record failed: %s", exc)

    def record(self, session: AsyncSession, states: Sequence[LiveState]) -> None:
        """Store these states right after `session` commits, before the response is sent."""
        frozen = list(states)
        after_commit(session, lambda: self.record_now(frozen))

    async def invalidate(self, session: AsyncSession, product_ids: Iterable[uuid.UUID]) -> None:
        """Drop the entries now, and again right after `session` commits.

        The second delete undoes a reader that refilled an entry from the not yet committed
        database in between; the session dependency runs it after the commit and before
        the response is sent (read your writes). The live part is not dropped: an update
        records its new version, a delete is seen by the entry being gone.
        """
        keys = [str(product_id) for product_id in product_ids]
        await self._delete(keys)
        after_commit(session, lambda: self._delete(keys))

    async def _delete(self, keys: list[str]) -> None:
        await asyncio.gather(*(self.entries.delete(key) for key in keys))
