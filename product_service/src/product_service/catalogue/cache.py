"""The read-through cache of product details (`product:{id}` in Redis).

An entry holds the product and its version, so a cached read answers with the same ETag as
a database read. Writers call `invalidate`, which drops the entries at once and again right
after the request's transaction commits (see `invalidate`). A Redis outage only costs speed:
`JsonCache` turns every failure into a miss.
"""

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.catalogue.schemas import ProductRead
from shop_common.db import after_commit
from shop_common.redis import JsonCache

__all__ = ["ProductCache", "VersionedProduct", "make_etag"]


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


class ProductCache:
    def __init__(self, redis: Redis, *, prefix: str, service: str, ttl_seconds: int) -> None:
        self.entries = JsonCache(redis, prefix=prefix, name="product", service=service)
        self.ttl_seconds = ttl_seconds

    async def get(self, product_id: uuid.UUID) -> VersionedProduct | None:
        cached = await self.entries.get(str(product_id))
        if not isinstance(cached, dict):
            return None
        try:
            product = ProductRead.model_validate(cached.get("product"))
            return VersionedProduct(product, int(cached["version"]))
        except (ValidationError, KeyError, TypeError, ValueError):
            return None  # an entry in another shape: read the database instead

    async def set(self, entry: VersionedProduct) -> None:
        value = {"product": entry.product.model_dump(mode="json"), "version": entry.version}
        await self.entries.set(str(entry.product.id), value, ttl_seconds=self.ttl_seconds)

    async def invalidate(self, session: AsyncSession, product_ids: Iterable[uuid.UUID]) -> None:
        """Drop the entries now, and again right after `session` commits.

        The second delete undoes a reader that refilled an entry from the not yet committed
        database in between; the session dependency runs it after the commit and before
        the response is sent (read your writes).
        """
        keys = [str(product_id) for product_id in product_ids]
        await self._delete(keys)
        after_commit(session, lambda: self._delete(keys))

    async def _delete(self, keys: list[str]) -> None:
        await asyncio.gather(*(self.entries.delete(key) for key in keys))
