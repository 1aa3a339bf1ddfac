"""`Annotated` dependency aliases of the order service."""

from typing import Annotated

from fastapi import Depends, Header, Request

from order_service.context import OrderContext

__all__ = ["IdempotencyKeyDep", "OrderContextDep"]


async def _order_context(request: Request) -> OrderContext:
    ctx: OrderContext = request.app.state.orders
    return ctx


OrderContextDep = Annotated[OrderContext, Depends(_order_context)]
IdempotencyKeyDep = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID is a good choice); the same key and body "
        "within 24 h return the first answer instead of placing a second order",
    ),
]
