"""The product-service client: answers mapped to errors, retries, metrics, both transports."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import uvicorn
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shop_common.errors import Conflict, NotFound, ServiceUnavailable
from shop_contracts.product import ProductServiceClient

from .fakes import PRODUCT_SECRET, FakeProducts

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler | FakeProducts) -> ProductServiceClient:
    handle = handler.handle if isinstance(handler, FakeProducts) else handler
    return ProductServiceClient(
        "http://product", PRODUCT_SECRET, service="order", transport=httpx.MockTransport(handle)
    )


def requests(operation: str, outcome: str) -> float:
    labels = {"service": "order", "target": "product", "operation": operation, "outcome": outcome}
    return REGISTRY.get_sample_value("internal_client_requests_total", labels) or 0.0


async def test_unknown_product_is_not_found() -> None:
    with pytest.raises(NotFound) as raised:
        await client_for(FakeProducts()).reserve(uuid.uuid4(), [(uuid.uuid4(), 1)])
    assert raised.value.code == "product_not_found"


async def test_reserve_and_release_return_typed_results() -> None:
    products = FakeProducts()
    lamp = products.add("Lamp", price=10, stock=5)
    client = client_for(products)
    order_id = uuid.uuid4()
    reservation = await client.reserve(order_id, [(lamp, 2)])
    assert reservation.order_id == order_id
    assert [(i.product_id, i.name, i.unit_price, i.quantity) for i in reservation.items] == [
        (lamp, "Lamp", 10, 2)
    ]
    assert (await client.release(order_id)).released is True
    assert (await client.release(order_id)).released is False


async def test_insufficient_stock_passes_the_details_through() -> None:
    products = FakeProducts()
    lamp = products.add(stock=1)
    with pytest.raises(Conflict) as raised:
        await client_for(products).reserve(uuid.uuid4(), [(lamp, 3)])
    assert raised.value.code == "insufficient_stock"
    assert raised.value.details == [{"product_id": str(lamp), "requested": 3, "available": 1}]


async def test_unknown_products_are_named_in_the_details() -> None:
    def unknown(request: httpx.Request) -> httpx.Response:
        body = {"message": "Unknown product", "code": "product_not_found", "details": [{"x": 1}]}
        return httpx.Response(404, json=body)

    with pytest.raises(NotFound) as raised:
        await client_for(unknown).reserve(uuid.uuid4(), [(uuid.uuid4(), 1)])
    assert raised.value.details == [{"x": 1}]


async def test_reserving_for_a_released_order_is_503_order_expired() -> None:
    products = FakeProducts()
    lamp = products.add(stock=5)
    client = client_for(products)
    order_id = uuid.uuid4()
    await client.release(order_id)  # released before its reserve arrived
    with pytest.raises(ServiceUnavailable) as raised:
        await client.reserve(order_id, [(lamp, 1)])
    assert raised.value.code == "order_expired"
    assert products.stock(lamp) == 5


async def test_a_refused_secret_is_503_and_not_retried() -> None:
    products = FakeProducts()
    before = requests("release", "client_error")
    client = ProductServiceClient(
        "http://product", "wrong", service="order", transport=httpx.MockTransport(products.handle)
    )
    with pytest.raises(ServiceUnavailable) as raised:
        await client.release(uuid.uuid4())
    assert raised.value.code == "product_service_unavailable"
    assert products.count("release") == 1
    assert requests("release", "client_error") - before == 1


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (500, "server_error"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectError("x"), "unavailable"),
    ],
)
async def test_failures_are_retried_with_backoff_then_503(
    fault: Exception | int, outcome: str
) -> None:
    products = FakeProducts()
    products.faults["release"] = fault
    before = requests("release", outcome)
    with pytest.raises(ServiceUnavailable):
        await client_for(products).release(uuid.uuid4())
    assert products.count("release") == 3
    assert requests("release", outcome) - before == 3


async def test_an_unreadable_answer_is_503() -> None:
    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": {"unexpected": True}})

    with pytest.raises(ServiceUnavailable):
        await client_for(garbage).release(uuid.uuid4())


def _asgi_product_service(products: FakeProducts) -> Starlette:
    async def endpoint(request: Request) -> Response:
        forwarded = httpx.Request(
            "POST", str(request.url), headers=request.headers.raw, content=await request.body()
        )
        answer = await products.handle(forwarded)
        return Response(answer.content, answer.status_code, media_type="application/json")

    paths = ["product-details", "stock/reserve", "stock/release"]
    return Starlette(
        routes=[Route(f"/internal/v1/{p}/", endpoint, methods=["POST"]) for p in paths]
    )


@pytest.fixture
async def product_server() -> AsyncIterator[tuple[str, FakeProducts]]:
    """The fake product service on a real socket, served by uvicorn."""
    products = FakeProducts()
    config = uvicorn.Config(
        _asgi_product_service(products), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no start event
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", products
    server.should_exit = True
    await task


@pytest.mark.parametrize("httpx_transport", [False, True], ids=["aiohttp", "httpx"])
async def test_both_transports_carry_real_calls(
    product_server: tuple[str, FakeProducts], httpx_transport: bool
) -> None:
    base_url, products = product_server
    lamp = products.add("Lamp", price=5, stock=3)
    client = ProductServiceClient(
        base_url,
        PRODUCT_SECRET,
        service="order",
        transport=httpx.AsyncHTTPTransport() if httpx_transport else None,
    )
    try:
        order_id = uuid.uuid4()
        reservation = await client.reserve(order_id, [(lamp, 2)])
        assert reservation.items[0].quantity == 2
        assert json.loads(products.calls[-1][1].content)["order_id"] == str(order_id)
        assert products.stock(lamp) == 1
    finally:
        await client.aclose()


async def test_a_refused_connection_is_unavailable_after_every_attempt() -> None:
    before = requests("release", "unavailable")
    client = ProductServiceClient("http://127.0.0.1:9", PRODUCT_SECRET, service="order")
    try:
        with pytest.raises(ServiceUnavailable):
            await client.release(uuid.uuid4())
    finally:
        await client.aclose()
    assert requests("release", "unavailable") - before == 3
