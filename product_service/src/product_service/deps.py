"""What the product service keeps on its app state: the start-up hook that creates it and the
`Annotated` dependency aliases that read it and parse shared parameters."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Query, Request

from product_service.catalogue.cache import ProductCache
from product_service.catalogue.schemas import MAX_PRICE, ProductEdit, ProductFilters, ProductSort
from product_service.config import Settings
from shop_common.app import StartupHook
from shop_common.errors import ValidationFailed
from shop_common.routing import IdPath
from shop_contracts.authentication import WriterDep

__all__ = [
    "IfMatchHeader",
    "ProductCacheDep",
    "ProductEditDep",
    "ProductFiltersDep",
    "product_cache_hook",
]


def product_cache_hook(settings: Settings) -> StartupHook:
    """`app.state.product_cache`: product details in Redis, dropped after each write."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        app.state.product_cache = ProductCache(
            app.state.redis,
            prefix=settings.redis_prefix,
            service=settings.service_name,
            ttl_seconds=settings.product_cache_ttl_seconds,
        )
        yield

    return hook


async def _product_cache(request: Request) -> ProductCache:
    cache: ProductCache = request.app.state.product_cache
    return cache


Price = Annotated[int | None, Query(ge=0, le=MAX_PRICE, description="In cents")]


async def _product_filters(
    q: Annotated[
        str | None,
        Query(max_length=200, pattern=r"^[^\x00]*$", description="Name or description contains"),
    ] = None,
    min_price: Price = None,
    max_price: Price = None,
    in_stock: Annotated[bool | None, Query(description="Only with (or without) stock")] = None,
    creator_id: uuid.UUID | None = None,
    sort: ProductSort = "-created_at",
) -> ProductFilters:
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ValidationFailed(
            details=[{"loc": ["query", "max_price"], "msg": "max_price must be >= min_price"}]
        )
    return ProductFilters(
        q=q or None,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        creator_id=creator_id,
        sort=sort,
    )


ProductCacheDep = Annotated[ProductCache, Depends(_product_cache)]
ProductFiltersDep = Annotated[ProductFilters, Depends(_product_filters)]
IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="An ETag from a read of this product; 412 when it changed since ('*' "
        "matches any version)",
    ),
]


def _product_edit(
    product_id: IdPath, user: WriterDep, if_match: IfMatchHeader = None
) -> ProductEdit:
    return ProductEdit(product_id=product_id, user_id=user.id, if_match=if_match)


ProductEditDep = Annotated[ProductEdit, Depends(_product_edit)]
