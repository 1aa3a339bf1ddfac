"""`ServiceClient`, the base of every internal client: retries only what is idempotent,
with backoff, bounds every attempt, and turns a failing callee into a 503."""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from shop_common.clients import ServiceClient, ServiceResponse, call_budget_seconds
from shop_common.errors import ServiceUnavailable, ValidationFailed
from shop_common.logs import use_request_id
from shop_common.testing.secrets import strong_secret

from .conftest import served

SECRET = strong_secret("stock")


class StockClient(ServiceClient):
    target = "stock"


class Reservation(BaseModel):
    reserved: int


class Callee:
    """The other service at the HTTP edge (under `httpx.MockTransport`): gives the scripted
    answers in turn, the last one from then on, and records every call and when it came."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[httpx.Request] = []
        self.times: list[float] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        self.times.append(time.perf_counter())
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, json={"data": {"reserved": 1}})


def client_for(
    callee: Callee, *, timeout: float = 2.0, retries: int = 2, backoff: float = 0.05
) -> StockClient:
    return StockClient(
        "http://stock",
        SECRET,
        service="common",
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        transport=httpx.MockTransport(callee),
    )


def requests(outcome: str) -> float:
    labels = {"service": "common", "target": "stock", "operation": "reserve", "outcome": outcome}
    return REGISTRY.get_sample_value("internal_client_requests_total", labels) or 0.0


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (500, "server_error"),
        (503, "server_error"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectError("refused"), "unavailable"),
        (httpx.RemoteProtocolError("reset"), "unavailable"),
    ],
    ids=["500", "503", "timeout", "connect", "reset"],
)
async def test_an_idempotent_call_is_retried_with_backoff_then_503(
    fault: int | Exception, outcome: str
) -> None:
    callee = Callee(fault)
    before = requests(outcome)
    client = client_for(callee, backoff=0.05)
    with pytest.raises(ServiceUnavailable) as raised:
        await client.post("reserve", "/reserve/", {"n": 1}, idempotent=True)
    assert raised.value.status_code == 503
    assert raised.value.code == "stock_service_unavailable"
    assert raised.value.message == "The stock service is unavailable, try again shortly"
    assert len(callee.calls) == 3  # 1 + retries (2 by default)
    gaps = [later - earlier for earlier, later in zip(callee.times, callee.times[1:], strict=False)]
    assert gaps[0] >= 0.05  # then the backoff doubles
    assert gaps[1] >= 0.1
    assert requests(outcome) - before == 3


async def test_a_retry_that_succeeds_returns_its_answer() -> None:
    callee = Callee(502, httpx.ConnectError("refused"), 200)
    response = await client_for(callee).post("reserve", "/reserve/", {}, idempotent=True)
    assert response.status_code == 200
    assert len(callee.calls) == 3


@pytest.mark.parametrize(
    ("fault", "unknown"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("reset"), True),
        (500, True),
    ],
    ids=["refused", "timeout", "reset", "500"],
)
async def test_an_answer_is_marked_unknown_after_an_attempt_that_may_have_acted(
    fault: int | Exception, unknown: bool
) -> None:
    callee = Callee(fault, 409)
    response = await client_for(callee).post("reserve", "/reserve/", {}, idempotent=True)
    assert response.status_code == 409
    assert response.earlier_attempt_unknown is unknown


async def test_a_first_answer_is_not_marked_unknown() -> None:
    response = await client_for(Callee(409)).post("reserve", "/reserve/", {}, idempotent=True)
    assert response.earlier_attempt_unknown is False


@pytest.mark.parametrize("fault", [500, httpx.ReadTimeout("slow"), httpx.ConnectError("x")])
async def test_a_non_idempotent_call_is_never_retried(fault: int | Exception) -> None:
    callee = Callee(fault)
    with pytest.raises(ServiceUnavailable) as raised:
        await client_for(callee).post("reserve", "/reserve/", {}, idempotent=False)
    assert raised.value.code == "stock_service_unavailable"
    assert len(callee.calls) == 1


@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_a_4xx_is_returned_to_the_caller_not_retried(status: int) -> None:
    callee = Callee(status)
    before = requests("client_error")
    response = await client_for(callee).post("reserve", "/reserve/", {}, idempotent=True)
    assert response.status_code == status
    assert len(callee.calls) == 1
    assert requests("client_error") - before == 1


async def test_the_request_id_the_secret_and_the_body_are_sent() -> None:
    callee = Callee(200)
    client = client_for(callee)
    with use_request_id("caller-req-7"):
        await client.post("reserve", "/internal/v1/reserve/", {"items": [1, 2]}, idempotent=True)
    [sent] = callee.calls
    assert sent.method == "POST"
    assert sent.url == "http://stock/internal/v1/reserve/"
    assert sent.headers["X-Request-ID"] == "caller-req-7"
    assert sent.headers["X-Internal-Secret"] == SECRET
    assert sent.read() == b'{"items":[1,2]}'


def test_the_call_budget_is_every_attempt_timing_out_plus_the_backoffs() -> None:
    assert call_budget_seconds(2.0, 3) == pytest.approx(6.15)
    assert call_budget_seconds(1.0, 1) == pytest.approx(1.0)
    client = client_for(Callee(200), timeout=0.5, retries=3, backoff=0.1)
    assert client.call_budget_seconds() == pytest.approx(4 * 0.5 + 0.1 + 0.2 + 0.4)
    assert client.call_budget_seconds(idempotent=False) == pytest.approx(0.5)


async def test_parse_reads_the_data_of_a_success_envelope() -> None:
    response = ServiceResponse(200, b'{"data": {"reserved": 3}}')
    assert client_for(Callee(200)).parse(response, Reservation) == Reservation(reserved=3)


@pytest.mark.parametrize(
    "response",
    [
        ServiceResponse(200, b"<html>gateway</html>"),
        ServiceResponse(200, b""),
        ServiceResponse(200, b'{"reserved": 3}'),
        ServiceResponse(200, b'{"data": {"reserved": "many"}}'),
        ServiceResponse(200, b'["data"]'),
    ],
    ids=["html", "empty", "no-envelope", "wrong-shape", "a-list"],
)
def test_parse_of_an_unreadable_answer_is_503(response: ServiceResponse) -> None:
    with pytest.raises(ServiceUnavailable) as raised:
        client_for(Callee(200)).parse(response, Reservation)
    assert raised.value.status_code == 503
    assert raised.value.code == "stock_service_unavailable"
    assert raised.value.message == "The stock service sent an unreadable answer"


def test_an_outgoing_body_the_callee_would_refuse_is_the_given_error_not_a_500() -> None:
    refusal = ValidationFailed("Too many to reserve")
    client = client_for(Callee(200))
    assert client.outgoing(Reservation, {"reserved": 3}, refusal) == {"reserved": 3}
    with pytest.raises(ValidationFailed) as raised:
        client.outgoing(Reservation, {"reserved": "many"}, refusal)
    assert raised.value is refusal


def test_a_refused_secret_is_reported_as_this_services_misconfiguration() -> None:
    error = client_for(Callee(403)).misconfigured(ServiceResponse(403, b""))
    assert (error.status_code, error.code) == (503, "stock_service_unavailable")
    assert error.message == "The stock service refused this service's credentials"


def _trickling_app(interval: float, chunks: int) -> Starlette:
    """Answers at once, then sends its body a byte at a time: no single read ever waits
    longer than `interval`, so only an overall deadline can stop the attempt."""

    async def body() -> AsyncIterator[bytes]:
        for _ in range(chunks):
            await asyncio.sleep(interval)
            yield b" "

    async def endpoint(_: Request) -> StreamingResponse:
        return StreamingResponse(body(), media_type="application/json")

    return Starlette(routes=[Route("/slow/", endpoint, methods=["POST"])])


@pytest.fixture
async def trickling_server() -> AsyncIterator[str]:
    async with served(_trickling_app(interval=0.05, chunks=100)) as url:
        yield url


async def test_an_answer_trickling_past_the_timeout_is_cut_by_the_attempt_deadline(
    trickling_server: str,
) -> None:
    before = requests("timeout")
    client = StockClient(trickling_server, SECRET, service="common", timeout=0.3, retries=1)
    started = time.perf_counter()
    try:
        with pytest.raises(ServiceUnavailable) as raised:
            await client.post("reserve", "/slow/", {}, idempotent=True)
    finally:
        await client.aclose()
    elapsed = time.perf_counter() - started
    assert raised.value.code == "stock_service_unavailable"
    # Two attempts of 0.3 s and one backoff, far short of the 5 s the body takes to send.
    assert client.call_budget_seconds() == pytest.approx(0.65)
    assert 0.6 <= elapsed < client.call_budget_seconds() + 0.3
    assert requests("timeout") - before == 2
