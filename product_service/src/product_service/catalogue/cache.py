"""The read-through cache of product details (`product:{id}` in Redis).

An entry holds only what the catalogue's creator changes: id, creator, name, description,
price, created_at. Stock, version (the ETag) and modified_at change with every order, so a
read takes them from the row by primary key each time (`repository.get_live`): a reserve
or release leaves the entry valid and never touches the cache, and a read right after one
still shows its stock and ETag (read your writes). Updates and deletes call `invalidate`,
which drops the entry at once and again right after the request's transaction commits (see
`invalidate`). A Redis outage only costs speed: `JsonCache` turns every failure into a miss.
"""

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.catalogue.schemas import ProductRead
from shop_common.db import after_commit
from shop_common.redis import JsonCache

__all__ = ["CachedProduct", "ProductCache", "VersionedProduct", "make_etag"]


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
    """The part of a product only its creator changes: what an entry holds."""

    id: uuid.UUID
    creator_id: uuid.UUID
    name: str
    description: str
    price: int
    created_at: datetime


class ProductCache:
    def __init__(self, redis: Redis, *, prefix: str, service: str, ttl_seconds: int) -> None:
        self.entries = JsonCache(redis, prefix=prefix, name="product", service=service)
        self.ttl_seconds = ttl_seconds

    async def get(self, product_id: uuid.UUID) -> CachedProduct | None:
        cached = await self.entries.get(str(product_id))
        if not isinstance(cached, dict):
            return None
        try:
            return CachedProduct.model_validate(cached["static"])
        except (ValidationError, KeyError):
            return None  # an entry in another shape (an older release's): read the database

    async def set(self, product: CachedProduct) -> None:
        value = {"static": product.model_dump(mode="json")}
        await self.entries.set(str(product.id), value, ttl_seconds=self.ttl_seconds)

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
