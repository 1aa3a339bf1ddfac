"""An in-memory stand-in for the product service, served through `httpx.MockTransport` (the
user service's is the contract's `shop_contracts.testing.FakeUserService`).

`FakeProducts` keeps the product service's contract (api.md): reserve is all-or-nothing and
idempotent per order id, release gives back exactly what the order took, once, and a
released order id can reserve nothing any more (409 `reservation_released`), like the real
one. Knobs make it fail the ways a real network does.
"""

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from shop_common.testing.secrets import strong_secret

__all__ = [
    "PRODUCT_SECRET",
    "USER_SECRET",
    "FakeProduct",
    "FakeProducts",
    "Reservation",
]

USER_SECRET = strong_secret("user-internal")
PRODUCT_SECRET = strong_secret("product-internal")


def _json(status: int, body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(status, json=body)


@dataclass
class FakeProduct:
    id: uuid.UUID
    name: str
    price: int
    stock: int


@dataclass
class Reservation:
    items: list[dict[str, Any]]
    released: bool = False


@dataclass
class FakeProducts:
    products: dict[uuid.UUID, FakeProduct] = field(default_factory=dict)
    reservations: dict[uuid.UUID, Reservation] = field(default_factory=dict)
    calls: list[tuple[str, httpx.Request]] = field(default_factory=list)
    # operation -> what to do instead of answering: an exception to raise or a status.
    faults: dict[str, Exception | int] = field(default_factory=dict)
    # operations that do their work, then time out before the answer reaches the caller.
    lose_answer: set[str] = field(default_factory=set)
    delays: dict[str, float] = field(default_factory=dict)
    # operation -> what its next calls do, one entry per call: "lose" (do the work, then
    # time out before the answer arrives) or "refuse" (409 insufficient_stock, nothing done).
    scripted: dict[str, list[str]] = field(default_factory=dict)
    # Set when a call of the operation reaches the service (before any delay).
    arrived: defaultdict[str, asyncio.Event] = field(
        default_factory=lambda: defaultdict(asyncio.Event)
    )

    def add(self, name: str = "Lamp", price: int = 2500, stock: int = 5) -> uuid.UUID:
        product = FakeProduct(uuid.uuid4(), name, price, stock)
        self.products[product.id] = product
        return product.id

    def stock(self, product_id: uuid.UUID) -> int:
        return self.products[product_id].stock

    def count(self, operation: str) -> int:
        return sum(1 for op, _ in self.calls if op == operation)

    def effective_releases(self) -> int:
        """Reservations that took stock and gave it back."""
        return sum(1 for r in self.reservations.values() if r.released and r.items)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        operation = request.url.path.strip("/").split("/")[-1].replace("-", "_")
        self.calls.append((operation, request))
        self.arrived[operation].set()
        await asyncio.sleep(self.delays.get(operation, 0))
        script = self.scripted.get(operation)
        step = script.pop(0) if script else None
        if step == "refuse":
            return _json(409, {"message": "Insufficient stock", "code": "insufficient_stock"})
        fault = self.faults.get(operation)
        if isinstance(fault, Exception):
            raise fault
        if isinstance(fault, int):
            return _json(fault, {"message": "fault", "code": "fault"})
        if request.headers.get("X-Internal-Secret") != PRODUCT_SECRET:
            return _json(403, {"message": "bad secret", "code": "invalid_internal_secret"})
        answer: Callable[[dict[str, Any]], httpx.Response] = getattr(self, f"_{operation}")
        response = answer(json.loads(request.content))
        if operation in self.lose_answer or step == "lose":
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    def _product_details(self, body: dict[str, Any]) -> httpx.Response:
        product = self.products.get(uuid.UUID(body["id"]))
        if product is None:
            return _json(404, {"message": "Product not found", "code": "product_not_found"})
        now = datetime.now(UTC).isoformat()
        data = {
            "id": str(product.id),
            "creator_id": str(uuid.uuid4()),
            "name": product.name,
            "description": "",
            "price": product.price,
            "stock": product.stock,
            "created_at": now,
            "modified_at": now,
        }
        return _json(200, {"data": data})

    def _reserve(self, body: dict[str, Any]) -> httpx.Response:
        order_id = uuid.UUID(body["order_id"])
        if order_id in self.reservations:  # idempotent: the first result, no more stock
            if self.reservations[order_id].released:
                return _json(409, {"message": "Released", "code": "reservation_released"})
            return self._reserved(order_id)
        lines = [(uuid.UUID(i["product_id"]), i["quantity"]) for i in body["items"]]
        refusal = self._refusal(lines)
        if refusal is not None:
            return refusal
        items = []
        for pid, qty in lines:
            product = self.products[pid]
            product.stock -= qty
            items.append(
                {
                    "product_id": str(pid),
                    "name": product.name,
                    "unit_price": product.price,
                    "quantity": qty,
                }
            )
        self.reservations[order_id] = Reservation(items)
        return self._reserved(order_id)

    def _refusal(self, lines: list[tuple[uuid.UUID, int]]) -> httpx.Response | None:
        if any(pid not in self.products for pid, _ in lines):
            return _json(404, {"message": "Product not found", "code": "product_not_found"})
        short = [
            {"product_id": str(pid), "requested": qty, "available": self.products[pid].stock}
            for pid, qty in lines
            if self.products[pid].stock < qty
        ]
        if not short:
            return None
        body = {"message": "Insufficient stock", "code": "insufficient_stock", "details": short}
        return _json(409, body)

    def _reserved(self, order_id: uuid.UUID) -> httpx.Response:
        items = self.reservations[order_id].items
        return _json(200, {"data": {"order_id": str(order_id), "items": items}})

    def _release(self, body: dict[str, Any]) -> httpx.Response:
        order_id = uuid.UUID(body["order_id"])
        reservation = self.reservations.setdefault(order_id, Reservation([], released=True))
        released = not reservation.released
        if released:
            reservation.released = True
            for item in reservation.items:
                self.products[uuid.UUID(item["product_id"])].stock += item["quantity"]
        return _json(200, {"data": {"order_id": str(order_id), "released": released}})
