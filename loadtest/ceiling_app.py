"""The bare ceiling app: what this machine can serve with nothing of the services' own work.

    CEILING_DATABASE_URL=postgresql://... uvicorn --app-dir loadtest ceiling_app:app --workers 2

Each route is the least a scenario of the benchmark has to do, on the same PostgreSQL and with
the same worker count as a service, so a scenario's rate divided by its ceiling's says how much
the framework around it costs, whatever the machine:
- `/json`: return a dict (C_json, the ceiling of routes that touch no database);
- `/db`: `SELECT 1` over an asyncpg pool (C_db);
- `/ord`: one transaction `SELECT stock ... FOR UPDATE; UPDATE; INSERT` on a random one of the
  products (C_ord); `/hot`: the same on product 1 only (C_hot).
The tables are created by the benchmark (loadtest/bench.py) before the workers start.
"""

import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request

PRODUCTS = int(os.environ.get("CEILING_PRODUCTS", "1000"))
# Like a service's pool: 10 connections, 10 more at peak.
POOL_MIN, POOL_MAX = 10, 20


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    dsn = os.environ["CEILING_DATABASE_URL"]
    app.state.pool = await asyncpg.create_pool(dsn, min_size=POOL_MIN, max_size=POOL_MAX)
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/json")
async def json_route() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/db")
async def db_route(request: Request) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        value = await conn.fetchval("SELECT 1")
    return {"value": value}


async def _order(request: Request, product_id: int) -> dict[str, Any]:
    """The stock part of an order: lock the row, take one unit, record the order line."""
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        stock = await conn.fetchval(
            "SELECT stock FROM products WHERE id = $1 FOR UPDATE", product_id
        )
        await conn.execute("UPDATE products SET stock = stock - 1 WHERE id = $1", product_id)
        order_id = await conn.fetchval(
            "INSERT INTO orders (product_id, quantity) VALUES ($1, 1) RETURNING id", product_id
        )
    return {"id": order_id, "product_id": product_id, "stock": stock - 1}


@app.post("/ord", status_code=201)
async def ord_route(request: Request) -> dict[str, Any]:
    return await _order(request, random.randrange(1, PRODUCTS + 1))  # noqa: S311 - not secret


@app.post("/hot", status_code=201)
async def hot_route(request: Request) -> dict[str, Any]:
    return await _order(request, 1)
