"""Internal stock routes the order service calls (`X-Internal-Secret`, no rate limit).

No session dependency: each step runs its own statements on `Database.connection()`."""

from fastapi import Request

from product_service.deps import ProductCacheDep
from product_service.errors import InsufficientStock, ProductNotFound, ReservationReleased
from product_service.stock import service
from shop_common.errors import DatabaseUnavailable, InvalidInternalSecret
from shop_common.routing import ShopRouter, error_responses
from shop_common.schemas import DataResponse
from shop_common.security import InternalSecretDep
from shop_contracts.product import (
    ReleaseRequest,
    ReleaseResult,
    ReservationRead,
    ReserveRequest,
)

__all__ = ["stock_router"]

stock_router = ShopRouter(
    prefix="/internal/v1/stock",
    tags=["internal"],
    dependencies=[InternalSecretDep],
    errors=(DatabaseUnavailable, InvalidInternalSecret),
)


@stock_router.post(
    "/reserve/",
    responses=error_responses(ProductNotFound, InsufficientStock, ReservationReleased),
)
async def reserve(
    body: ReserveRequest, request: Request, cache: ProductCacheDep
) -> DataResponse[ReservationRead]:
    reservation = await service.reserve(request.app.state.db, cache, data=body)
    return DataResponse(data=reservation)


@stock_router.post("/release/")
async def release(
    body: ReleaseRequest, request: Request, cache: ProductCacheDep
) -> DataResponse[ReleaseResult]:
    released = await service.release(request.app.state.db, cache, order_id=body.order_id)
    return DataResponse(data=ReleaseResult(order_id=body.order_id, released=released))
