"""Routes of the product catalogue: thin wrappers that parse, call the service and wrap.

The reads (detail, list, internal details) take no session: the service runs their single
statements on `Database.connection()`; the writes keep the request's session."""

from fastapi import Depends, Request, Response

from product_service.catalogue import service
from product_service.catalogue.cache import VersionedProduct
from product_service.catalogue.schemas import ProductCreate, ProductRead, ProductUpdate
from product_service.deps import (
    ProductCacheDep,
    ProductEditDep,
    ProductFiltersDep,
)
from product_service.errors import (
    NotProductOwner,
    ProductNameTaken,
    ProductNotFound,
    UserServiceUnavailable,
)
from shop_common.db import SessionDep
from shop_common.errors import (
    DatabaseUnavailable,
    InvalidInternalSecret,
    InvalidToken,
    NotAuthenticated,
    PreconditionFailed,
    TooManyRequests,
)
from shop_common.rate_limit import rate_limit
from shop_common.routing import IdPath, PaginationDep, ShopRouter, error_responses
from shop_common.schemas import DataResponse, ListResponse, MessageDataResponse, MessageResponse
from shop_common.security import InternalSecretDep
from shop_contracts.authentication import WriterDep
from shop_contracts.product import ProductDetailsRequest

__all__ = ["internal_router", "public_router"]

public_router = ShopRouter(
    prefix="/api/v1",
    tags=["products"],
    dependencies=[Depends(rate_limit("default"))],
    errors=(DatabaseUnavailable, TooManyRequests),
)
internal_router = ShopRouter(
    prefix="/internal/v1",
    tags=["internal"],
    dependencies=[InternalSecretDep],
    errors=(DatabaseUnavailable, InvalidInternalSecret),
)
ETAG_HEADER = {"ETag": {"description": "The product's version", "schema": {"type": "string"}}}
# A writer's token is checked by the user service.
AUTH_ERRORS = (NotAuthenticated, InvalidToken, UserServiceUnavailable)
OWNER_ERRORS = (*AUTH_ERRORS, ProductNotFound, NotProductOwner, PreconditionFailed)


def _with_etag(response: Response, entry: VersionedProduct) -> ProductRead:
    response.headers["ETag"] = entry.etag
    return entry.product


@public_router.post(
    "/product/",
    status_code=201,
    responses={
        201: {"headers": ETAG_HEADER},
        **error_responses(*AUTH_ERRORS, ProductNameTaken),
    },
)
async def create_product(
    body: ProductCreate, user: WriterDep, session: SessionDep, response: Response
) -> MessageDataResponse[ProductRead]:
    entry = await service.create_product(session, creator_id=user.id, data=body)
    response.headers["Location"] = f"/api/v1/product/{entry.product.id}/"
    return MessageDataResponse(
        message="Product created successfully", data=_with_etag(response, entry)
    )


@public_router.get("/product/")
async def list_products(
    request: Request, filters: ProductFiltersDep, page: PaginationDep
) -> ListResponse[ProductRead]:
    found = await service.list_products(request.app.state.db, filters=filters, page=page)
    return ListResponse.of(found, page)


@public_router.get(
    "/product/{id}/",
    responses={200: {"headers": ETAG_HEADER}, **error_responses(ProductNotFound)},
)
async def get_product(
    product_id: IdPath, request: Request, cache: ProductCacheDep, response: Response
) -> DataResponse[ProductRead]:
    entry = await service.get_product(request.app.state.db, cache, product_id=product_id)
    return DataResponse(data=_with_etag(response, entry))


@public_router.patch(
    "/product/{id}/",
    responses={
        200: {"headers": ETAG_HEADER},
        **error_responses(*OWNER_ERRORS, ProductNameTaken),
    },
)
async def update_product(
    edit: ProductEditDep,
    body: ProductUpdate,
    session: SessionDep,
    cache: ProductCacheDep,
    response: Response,
) -> MessageDataResponse[ProductRead]:
    entry = await service.update_product(session, cache, edit, data=body)
    return MessageDataResponse(
        message="Product updated successfully", data=_with_etag(response, entry)
    )


@public_router.delete("/product/{id}/", responses=error_responses(*OWNER_ERRORS))
async def delete_product(
    edit: ProductEditDep, session: SessionDep, cache: ProductCacheDep
) -> MessageResponse:
    await service.delete_product(session, cache, edit)
    return MessageResponse(message="Product deleted successfully")


@internal_router.post("/product-details/", responses=error_responses(ProductNotFound))
async def product_details(
    body: ProductDetailsRequest, request: Request, cache: ProductCacheDep
) -> DataResponse[ProductRead]:
    entry = await service.get_product(request.app.state.db, cache, product_id=body.id)
    return DataResponse(data=entry.product)
