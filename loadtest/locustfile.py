# mypy: ignore-errors
# (locust is not installed in this environment: the file is typed loosely on purpose)
"""A realistic mixed load for your own deployment: browse, search, detail, login, order, delete.

    uvx locust -f loadtest/locustfile.py --host http://127.0.0.1:8002   # or: pip install locust
    USER_URL=http://shop:8001 ORDER_URL=http://shop:8003 uvx locust -f loadtest/locustfile.py

locust is not a dependency of this project (it is not in the lock): run it with uvx or install it
yourself. Each simulated user registers once, creates a product of its own with some stock, then
mostly browses and searches the catalogue, opens product pages, and now and then logs in again,
orders and deletes one of its orders. `--host` is the product service; USER_URL and ORDER_URL
name the other two (default: the product host's ports 8001 and 8003). The services' rate limits
apply: raise RATE_LIMIT_* on the deployment, or expect 429s from a single client address. For
this machine's own figures against its ceilings, use loadtest/run_benchmark.sh (wrk) instead:
a Python load generator on the same cores distorts them.
"""

import os
import random
import uuid
from typing import Any
from urllib.parse import urlsplit

from locust import HttpUser, between, task

PASSWORD = "Locust!Passw0rd"  # noqa: S105 - throw-away load-test accounts
WORDS = ["lamp", "chair", "desk", "mug", "book", "pen"]


def _sibling(host: str, variable: str, port: int) -> str:
    """USER_URL / ORDER_URL, else the product host with the other service's port."""
    parts = urlsplit(host)
    return os.environ.get(variable) or f"{parts.scheme}://{parts.hostname}:{port}"


class Shopper(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.user_url = _sibling(self.host, "USER_URL", 8001)
        self.order_url = _sibling(self.host, "ORDER_URL", 8003)
        self.email = f"locust-{uuid.uuid4().hex[:12]}@example.com"
        body = {"email": self.email, "password": PASSWORD}
        response = self.client.post(f"{self.user_url}/api/v1/register/", json=body)
        self.token = response.json()["data"]["access"] if response.ok else ""
        self.product_ids: list[str] = []
        self.order_ids: list[str] = []
        product = {"name": f"{random.choice(WORDS)} {uuid.uuid4().hex[:8]}", "price": 1999}  # noqa: S311
        created = self.client.post(
            "/api/v1/product/", json=product | {"stock": 1_000_000}, headers=self._auth()
        )
        if created.ok:
            self.product_ids.append(created.json()["data"]["id"])

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _remember(self, results: list[dict[str, Any]]) -> None:
        for item in results[:5]:
            if item["id"] not in self.product_ids:
                self.product_ids.append(item["id"])
        del self.product_ids[:-50]

    @task(10)
    def browse(self) -> None:
        response = self.client.get("/api/v1/product/?limit=20", name="/api/v1/product/ (browse)")
        if response.ok:
            self._remember(response.json()["results"])

    @task(5)
    def search(self) -> None:
        query = f"?q={random.choice(WORDS)}&min_price=1000&sort=price&limit=20"  # noqa: S311
        self.client.get(f"/api/v1/product/{query}", name="/api/v1/product/ (search)")

    @task(8)
    def detail(self) -> None:
        if self.product_ids:
            product_id = random.choice(self.product_ids)  # noqa: S311
            self.client.get(f"/api/v1/product/{product_id}/", name="/api/v1/product/{id}/")

    @task(1)
    def login(self) -> None:
        body = {"email": self.email, "password": PASSWORD}
        response = self.client.post(f"{self.user_url}/api/v1/login/", json=body)
        if response.ok:
            self.token = response.json()["data"]["access"]

    @task(2)
    def order(self) -> None:
        if not self.product_ids:
            return
        body = {"product_id": random.choice(self.product_ids), "quantity": 1}  # noqa: S311
        response = self.client.post(
            f"{self.order_url}/api/v1/order/", json=body, headers=self._auth()
        )
        if response.status_code == 201:
            self.order_ids.append(response.json()["data"]["id"])

    @task(1)
    def delete_order(self) -> None:
        if self.order_ids:
            order_id = self.order_ids.pop(0)
            self.client.delete(
                f"{self.order_url}/api/v1/order/{order_id}/",
                headers=self._auth(),
                name="/api/v1/order/{id}/",
            )
