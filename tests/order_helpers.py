"""Factories of the order tests."""
from __future__ import annotations

from models.core.db import fetch_one
from tests.store_catalog_helpers import product, variation  # noqa: F401


async def stock_of(product_id: int) -> int:
    return (await fetch_one("SELECT stock_quantity FROM product WHERE id = %s", [product_id]))[0]


async def variation_stock(variation_id: int) -> int:
    return (await fetch_one("SELECT stock_quantity FROM product_variation WHERE id = %s", [variation_id]))[0]


async def count(table: str, where: str = "TRUE", params=()) -> int:
    return (await fetch_one(f"SELECT count(*) FROM {table} WHERE {where}", list(params)))[0]


async def place(api, user, items, **extra):
    """POST /api/orders/ and return the response."""
    return await api.post("/api/orders/", json={"items": items, **extra}, user=user)
