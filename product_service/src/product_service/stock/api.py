"""Internal stock routes the order service calls (`X-Internal-Secret`, no rate limit)."""

from product_service.deps import ProductCacheDep
from product_service.stock import service
from shop_common.db import SessionDep
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
    prefix="/internal/v1/stock", tags=["internal"], dependencies=[InternalSecretDep]
)


@stock_router.post(
    "/reserve/",
    responses=error_responses(
        {
            403: "Bad internal secret",
            404: "Unknown product (code product_not_found), each named in details",
            409: "Insufficient stock (code insufficient_stock, details list every short "
            "product with requested and available), or the order's reservation was "
            "released (code reservation_released)",
        }
    ),
)
async def reserve(
    body: ReserveRequest, session: SessionDep, cache: ProductCacheDep
) -> DataResponse[ReservationRead]:
    reservation = await service.reserve(session, cache, data=body)
    return DataResponse(data=reservation)


@stock_router.post("/release/", responses=error_responses({403: "Bad internal secret"}))
async def release(
    body: ReleaseRequest, session: SessionDep, cache: ProductCacheDep
) -> DataResponse[ReleaseResult]:
    released = await service.release(session, cache, order_id=body.order_id)
    return DataResponse(data=ReleaseResult(order_id=body.order_id, released=released))
