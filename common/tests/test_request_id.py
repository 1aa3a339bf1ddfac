"""`X-Request-ID`: accepted when sane, made otherwise, echoed, and on every log line,
the 500 of an unhandled error included."""

import re

import httpx
import pytest

from .conftest import JsonLines
from .testapp import LEAKED_DETAIL

GENERATED = re.compile(r"^[0-9a-f]{32}$")


async def test_a_sane_incoming_id_is_kept_and_echoed(client: httpx.AsyncClient) -> None:
    sane = "req-42.retry:1_A"
    response = await client.get("/request-id/", headers={"X-Request-ID": sane})
    assert response.status_code == 200
    assert response.json() == {"request_id": sane}
    assert response.headers["X-Request-ID"] == sane


@pytest.mark.parametrize(
    "incoming",
    ["has space", "x" * 129, "slash/in/it", 'quote"', "semi;colon", "ümlaut"],
    ids=["space", "too-long", "slash", "quote", "semicolon", "non-ascii"],
)
async def test_an_insane_incoming_id_is_replaced_by_a_generated_one(
    client: httpx.AsyncClient, incoming: str
) -> None:
    response = await client.get(
        "/request-id/", headers=[(b"X-Request-ID", incoming.encode("utf-8"))]
    )
    assert response.status_code == 200
    generated = response.headers["X-Request-ID"]
    assert GENERATED.match(generated)
    assert response.json() == {"request_id": generated}


async def test_without_an_incoming_id_each_request_gets_its_own(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/request-id/")
    second = await client.get("/request-id/")
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(GENERATED.match(value) for value in ids)
    assert ids[0] != ids[1]
    assert [first.json()["request_id"], second.json()["request_id"]] == ids


async def test_the_id_is_on_every_log_line_of_the_request(
    client: httpx.AsyncClient, log_lines: JsonLines
) -> None:
    response = await client.get("/request-id/", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 200
    route_line = log_lines.matching("inside the route")
    access_line = log_lines.matching("GET /request-id/ 200")
    assert [line["request_id"] for line in route_line + access_line] == ["trace-me", "trace-me"]
    assert access_line[0]["service"] == "common"
    assert access_line[0]["route"] == "/request-id"
    assert access_line[0]["status"] == 200


async def test_an_unhandled_error_is_a_500_envelope_keeping_the_id(
    client: httpx.AsyncClient, log_lines: JsonLines
) -> None:
    response = await client.get("/crash/", headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error", "code": "internal_error"}
    assert response.headers["X-Request-ID"] == "crash-1"
    assert LEAKED_DETAIL not in response.text
    assert "Traceback" not in response.text
    [logged] = log_lines.matching("unhandled error on GET /crash/")
    assert logged["request_id"] == "crash-1"
    assert logged["level"] == "ERROR"
    assert "RuntimeError" in logged["exc_info"]  # the traceback goes to the log only


async def test_a_database_failure_escaping_in_an_exception_group_is_503(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/crash-in-group/", headers={"X-Request-ID": "group-1"})
    assert response.status_code == 503
    assert response.json() == {
        "message": "The database is unavailable, try again shortly",
        "code": "database_unavailable",
    }
    assert response.headers["Retry-After"] == "5"
    assert response.headers["X-Request-ID"] == "group-1"
