"""Routes of the order service: thin wrappers that parse, call the saga or service, and wrap."""

from typing import Annotated

from fastapi import Depends, Query, Response

from order_service import saga, service
from order_service.context import connection
from order_service.deps import IdempotencyKeyDep, OrderContextDep
from order_service.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InsufficientStock,
    OrderExpired,
    OrderLimitExceeded,
    OrderNotFound,
    ProductNotFound,
    ProductServiceUnavailable,
    UserServiceUnavailable,
)
from order_service.schemas import OrderCreate, OrderRead, VisibleStatus
from shop_common.errors import DatabaseUnavailable, InvalidToken, NotAuthenticated, TooManyRequests
from shop_common.rate_limit import rate_limit
from shop_common.routing import IdPath, PaginationDep, ShopRouter, error_responses
from shop_common.schemas import DataResponse, ListResponse, MessageDataResponse, MessageResponse
from shop_contracts.authentication import CurrentUserDep, WriterDep

__all__ = ["router"]

router = ShopRouter(
    prefix="/api/v1",
    tags=["orders"],
    dependencies=[Depends(rate_limit("default"))],
    errors=(DatabaseUnavailable, TooManyRequests),
)
ORDER_PATH = "/api/v1/order/"
CREATED_MESSAGE = "Order created successfully"
# On a response given again for a repeated Idempotency-Key.
REPLAYED_HEADER = "Idempotent-Replayed"
# Tokens are checked by the user service.
AUTH_ERRORS = (NotAuthenticated, InvalidToken, UserServiceUnavailable)


@router.post(
    "/order/",
    status_code=201,
    responses=error_responses(
        *AUTH_ERRORS,
        ProductNotFound,
        InsufficientStock,
        OrderLimitExceeded,
        IdempotencyInProgress,
        IdempotencyKeyReused,
        ProductServiceUnavailable,
        OrderExpired,
    ),
)
async def create_order(
    body: OrderCreate,
    user: WriterDep,
    ctx: OrderContextDep,
    response: Response,
    idempotency_key: IdempotencyKeyDep = None,
) -> MessageDataResponse[OrderRead]:
    try:
        placed = await saga.create_order(
            ctx, user_id=user.id, lines=body.lines(), key=idempotency_key
        )
    except service.ReplayedError as replayed:
        replayed.headers[REPLAYED_HEADER] = "true"
        raise
    response.headers["Location"] = f"{ORDER_PATH}{placed.order.id}/"
    if placed.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return MessageDataResponse(message=CREATED_MESSAGE, data=placed.order)


@router.get("/order/", responses=error_responses(*AUTH_ERRORS))
async def list_orders(
    user: CurrentUserDep,
    ctx: OrderContextDep,
    page: PaginationDep,
    status: Annotated[VisibleStatus | None, Query(description="Only orders in this status")] = None,
) -> ListResponse[OrderRead]:
    async with connection(ctx) as conn:
        found = await service.list_orders(conn, user_id=user.id, status=status, page=page)
    return ListResponse.of(found, page)


@router.get("/order/{id}/", responses=error_responses(*AUTH_ERRORS, OrderNotFound))
async def get_order(
    order_id: IdPath, user: CurrentUserDep, ctx: OrderContextDep
) -> DataResponse[OrderRead]:
    async with connection(ctx) as conn:
        order = await service.get_order(conn, user_id=user.id, order_id=order_id)
    return DataResponse(data=order)


@router.delete(
    "/order/{id}/",
    responses={
        202: {
            "model": MessageResponse,
            "description": "Cancellation recorded; the product service's answer is not known "
            "yet, so the reconciler finishes giving the stock back (never undone). The order "
            "is gone for its owner from now on",
        },
        **error_responses(*AUTH_ERRORS, OrderNotFound),
    },
)
async def delete_order(
    order_id: IdPath, user: WriterDep, ctx: OrderContextDep, response: Response
) -> MessageResponse:
    if await saga.delete_order(ctx, user_id=user.id, order_id=order_id):
        return MessageResponse(message="Order deleted successfully")
    response.status_code = 202
    return MessageResponse(
        message="Order deletion accepted; its stock is given back as soon as the product "
        "service answers"
    )
