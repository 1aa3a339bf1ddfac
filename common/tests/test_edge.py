"""The edge merges its headers with those a route set: `Vary` gains `Origin`, the request
id and the security headers replace the route's, and `Cache-Control` is forced only on
authenticated answers."""

import httpx

from .conftest import ORIGIN


async def test_an_answer_without_an_origin_varies_on_origin(client: httpx.AsyncClient) -> None:
    response = await client.get("/request-id/")
    assert response.status_code == 200
    assert response.headers.get_list("Vary") == ["Origin"]


async def test_a_routes_own_vary_is_kept_with_origin_added(client: httpx.AsyncClient) -> None:
    response = await client.get("/own-headers/")
    assert response.status_code == 200
    assert response.headers.get_list("Vary") == ["Accept-Encoding, Origin"]
    assert response.headers["Cache-Control"] == "max-age=60"


async def test_the_request_id_replaces_the_one_a_route_set(client: httpx.AsyncClient) -> None:
    response = await client.get("/own-headers/", headers={"X-Request-ID": "edge-1"})
    assert response.headers.get_list("X-Request-ID") == ["edge-1"]
    assert response.headers.get_list("X-Content-Type-Options") == ["nosniff"]


async def test_an_authenticated_answer_is_no_store_whatever_the_route_set(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/own-headers/", headers={"Authorization": "Bearer x"})
    assert response.headers.get_list("Cache-Control") == ["no-store"]


async def test_a_listed_origin_gets_its_allow_origin_and_vary(client: httpx.AsyncClient) -> None:
    response = await client.get("/own-headers/", headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers.get_list("Vary") == ["Accept-Encoding, Origin"]
