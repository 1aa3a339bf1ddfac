"""What the saga, the delete and the reconciler work with, and their short transactions.

A create or a delete talks to the product service between database steps. The request's
`SessionDep` holds one transaction until the response, which would keep the `pending` row
uncommitted (invisible to the reconciler) and any row lock held across the HTTP call. So
these flows take the app's session factory instead and run each step in its own short
transaction (`async with transaction(ctx) as session:`), committed before the next call.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from order_service.config import Settings
from shop_contracts.product import ProductServiceClient

__all__ = ["OrderContext", "transaction"]


@dataclass(frozen=True)
class OrderContext:
    sessionmaker: async_sessionmaker[AsyncSession]
    products: ProductServiceClient
    settings: Settings


@asynccontextmanager
async def transaction(ctx: OrderContext) -> AsyncIterator[AsyncSession]:
    """One short transaction: committed when the block ends, rolled back if it raises."""
    async with ctx.sessionmaker() as session, session.begin():
        yield session
