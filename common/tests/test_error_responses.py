"""OpenAPI error entries come from the error classes, and a 405 names the path's methods."""

import httpx

from shop_common.errors import (
    DatabaseUnavailable,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from shop_common.routing import error_responses, merge_responses


class ThingNotFound(NotFound):
    code = "thing_not_found"
    description = "No such thing"


def test_an_entry_has_the_envelope_the_codes_and_the_description_of_its_classes() -> None:
    entry = error_responses(ThingNotFound)[404]
    assert entry["x-error-codes"] == ["thing_not_found"]
    assert entry["description"] == "- `thing_not_found`: No such thing"
    assert entry["model"].__name__ == "ErrorResponse"
    assert "headers" not in entry


def test_errors_of_one_status_share_an_entry_and_their_headers() -> None:
    entries = error_responses(DatabaseUnavailable, ServiceUnavailable, Unauthorized)
    assert sorted(entries) == [401, 503]
    assert entries[503]["x-error-codes"] == ["database_unavailable", "service_unavailable"]
    # Always sent by one of the two, not by the other: documented, not required.
    assert entries[503]["headers"]["Retry-After"]["required"] is False
    assert entries[401]["headers"]["WWW-Authenticate"]["required"] is True


def test_merging_keeps_both_errors_of_a_status_and_leaves_other_entries() -> None:
    base = error_responses(DatabaseUnavailable, TooManyRequests)
    extra = {200: {"headers": {"ETag": {}}}, **error_responses(ServiceUnavailable)}
    merged = merge_responses(base, extra)
    assert merged[200] == {"headers": {"ETag": {}}}
    assert merged[429] == base[429]
    assert merged[503]["x-error-codes"] == ["database_unavailable", "service_unavailable"]
    assert merged[503]["description"].splitlines() == [
        f"- `database_unavailable`: {DatabaseUnavailable.description}",
        f"- `service_unavailable`: {ServiceUnavailable.description}",
    ]
    assert merged[503]["headers"]["Retry-After"]["required"] is False


async def test_a_wrong_method_names_every_method_the_path_has(client: httpx.AsyncClient) -> None:
    response = await client.put("/items/")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    assert response.json() == {"message": "Method Not Allowed", "code": "method_not_allowed"}
