"""`ServiceClient` on its production transport (aiohttp) against real sockets: what the
callee sees, and how each way a network fails is counted, retried and marked."""

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from prometheus_client import REGISTRY

from shop_common.clients import ServiceClient
from shop_common.errors import ServiceUnavailable
from shop_common.logs import use_request_id
from shop_common.testing.secrets import strong_secret
from shop_common.transport import AiohttpTransport

SECRET = strong_secret("sockets")
PATH = "/internal/v1/reserve/"
# What the callee does with each request in turn: answer with a status, never answer
# ("hang"), close the connection without answering ("close") or reset it ("reset").
Step = int | str


class SocketClient(ServiceClient):
    target = "sockets"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedCallee:
    """A raw HTTP/1.1 server that follows `steps`, the last one from then on."""

    steps: list[Step]
    seen: list[Seen] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; False once the connection is to end."""
        request_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        pairs = [line.split(": ", 1) for line in lines if line]
        headers = {name.lower(): value for name, value in pairs}
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if step == "close":
            return False
        if step == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        body = await reader.readexactly(int(headers["content-length"]))
        self.seen.append(Seen(request_line.split()[1], headers, body))
        if step == "hang":
            await reader.read()  # until the client gives up and closes
            return False
        answer = b'{"data": {"reserved": 1}}'
        head = f"HTTP/1.1 {step} X\r\nContent-Type: application/json\r\n"
        writer.write(f"{head}Content-Length: {len(answer)}\r\n\r\n".encode() + answer)
        await writer.drain()
        return True


@asynccontextmanager
async def callee(*steps: Step, port: int = 0) -> AsyncIterator[tuple[str, ScriptedCallee]]:
    scripted = ScriptedCallee(list(steps))
    server = await asyncio.start_server(scripted.handle, "127.0.0.1", port)
    bound = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}", scripted
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def client(
    url: str, *, attempt_seconds: float = 2.0, retries: int = 2
) -> AsyncIterator[SocketClient]:
    """A client of `url` on the production transport, closed afterwards."""
    made = SocketClient(url, SECRET, service="common", timeout=attempt_seconds, retries=retries)
    assert isinstance(made.transport, AiohttpTransport)
    try:
        yield made
    finally:
        await made.aclose()


def count(outcome: str) -> float:
    labels = {"service": "common", "target": "sockets", "operation": "reserve", "outcome": outcome}
    return REGISTRY.get_sample_value("internal_client_requests_total", labels) or 0.0


def counts() -> dict[str, float]:
    outcomes = ["success", "client_error", "server_error", "timeout", "unavailable"]
    return {outcome: count(outcome) for outcome in outcomes}


def added(before: dict[str, float]) -> dict[str, float]:
    """The outcomes counted since `before`, without the ones that did not move."""
    return {k: v - before[k] for k, v in counts().items() if v != before[k]}


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_call_carries_the_secret_the_request_id_and_the_body() -> None:
    before = counts()
    async with callee(200) as (url, scripted), client(url) as made:
        with use_request_id("caller-req-9"):
            response = await made.post("reserve", PATH, {"items": [1, "é"]}, idempotent=True)
    assert (response.status_code, response.json()) == (200, {"data": {"reserved": 1}})
    assert response.earlier_attempt_unknown is False
    [seen] = scripted.seen
    assert seen.path == PATH
    assert seen.headers["x-internal-secret"] == SECRET
    assert seen.headers["x-request-id"] == "caller-req-9"
    assert seen.headers["content-type"] == "application/json"
    assert seen.body == '{"items":[1,"é"]}'.encode()
    assert added(before) == {"success": 1}


async def test_calls_share_the_clients_connections() -> None:
    async with callee(200) as (url, scripted), client(url) as made:
        for _ in range(3):
            await made.post("reserve", PATH, {}, idempotent=True)
        transport = made.transport
        assert isinstance(transport, AiohttpTransport)
        connector = transport.session.connector
        assert connector is not None
        assert connector.limit == 200
    assert len(scripted.seen) == 3


async def test_a_refused_connection_is_unavailable_and_retried_then_503() -> None:
    before = counts()
    async with client(f"http://127.0.0.1:{free_port()}") as made:
        with pytest.raises(ServiceUnavailable) as raised:
            await made.post("reserve", PATH, {}, idempotent=True)
    assert raised.value.code == "sockets_service_unavailable"
    assert added(before) == {"unavailable": 3}


async def test_an_answer_after_a_refused_connection_is_not_marked_unknown() -> None:
    """A refused connect sent nothing: the callee's later refusal is the whole story."""
    port = free_port()
    before = counts()
    async with client(f"http://127.0.0.1:{port}", retries=1) as made:
        made.backoff = 1.0
        call = asyncio.create_task(made.post("reserve", PATH, {}, idempotent=True))
        async with asyncio.timeout(5):
            while count("unavailable") == before["unavailable"]:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        async with callee(409, port=port):
            response = await call
    assert response.status_code == 409
    assert response.earlier_attempt_unknown is False
    assert added(before) == {"unavailable": 1, "client_error": 1}


async def test_a_callee_that_never_answers_times_out_every_attempt_then_503() -> None:
    before = counts()
    async with (
        callee("hang") as (url, scripted),
        client(url, attempt_seconds=0.3, retries=1) as made,
    ):
        with pytest.raises(ServiceUnavailable):
            await made.post("reserve", PATH, {}, idempotent=True)
    assert len(scripted.seen) == 2
    assert added(before) == {"timeout": 2}


@pytest.mark.parametrize("fault", ["hang", "close", "reset"])
async def test_an_answer_after_a_timeout_or_a_broken_connection_is_marked_unknown(
    fault: str,
) -> None:
    """The callee may have acted on the lost attempt, whatever the next one answers."""
    before = counts()
    async with callee(fault, 409) as (url, _), client(url, attempt_seconds=0.3) as made:
        response = await made.post("reserve", PATH, {}, idempotent=True)
    assert response.status_code == 409
    assert response.earlier_attempt_unknown is True
    lost = "timeout" if fault == "hang" else "unavailable"
    assert added(before) == {lost: 1, "client_error": 1}


async def test_a_connection_closed_mid_request_is_unavailable_then_503() -> None:
    before = counts()
    async with callee("close") as (url, _), client(url) as made:
        with pytest.raises(ServiceUnavailable):
            await made.post("reserve", PATH, {}, idempotent=True)
    assert added(before) == {"unavailable": 3}


async def test_a_5xx_is_retried_and_the_answer_after_it_marked_unknown() -> None:
    before = counts()
    async with callee(500, 503, 200) as (url, scripted), client(url) as made:
        response = await made.post("reserve", PATH, {}, idempotent=True)
    assert response.status_code == 200
    assert response.earlier_attempt_unknown is True
    assert len(scripted.seen) == 3
    assert added(before) == {"server_error": 2, "success": 1}


async def test_a_non_idempotent_call_meets_a_5xx_once() -> None:
    before = counts()
    async with callee(500, 200) as (url, scripted), client(url) as made:
        with pytest.raises(ServiceUnavailable):
            await made.post("reserve", PATH, {}, idempotent=False)
    assert len(scripted.seen) == 1
    assert added(before) == {"server_error": 1}
