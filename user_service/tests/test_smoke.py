import httpx

from .conftest import bearer, register


async def test_register_then_profile(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    response = await client.get("/api/v1/profile/", headers=bearer(tokens["access"]))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["email"] == "ada@example.com"
