"""What order emails say: the context of each message, read fresh by the
Celery tasks in tasks/orders.py (they take ids, so a redelivery re-reads)."""
from __future__ import annotations

from typing import Any

from models.core.db import fetch_all, fetch_one
from models.orders.tables import STATUS_DISPLAY


async def order_context(order_id: int) -> dict[str, Any] | None:
    row = await fetch_one(
        "SELECT id, order_number, customer_name, customer_email, status, payment_status, subtotal::text, "
        "discount::text, shipping_cost::text, tax::text, total::text, shipping_address, shipping_city, "
        "shipping_country, to_char(created_at, 'YYYY-MM-DD HH24:MI') FROM orders WHERE id = %s", [order_id])
    if row is None:
        return None
    items = await fetch_all("SELECT product_name, quantity, unit_price::text, total_price::text FROM order_item "
                            "WHERE order_id = %s ORDER BY id", [order_id])
    keys = ("id", "order_number", "customer_name", "customer_email", "status", "payment_status", "subtotal",
            "discount", "shipping_cost", "tax", "total", "shipping_address", "shipping_city", "shipping_country",
            "created_at")
    ctx = dict(zip(keys, row))
    ctx["status_display"] = STATUS_DISPLAY.get(ctx["status"], ctx["status"])
    ctx["items"] = [{"name": n, "quantity": q, "unit_price": u, "total_price": t} for n, q, u, t in items]
    return ctx


async def tracking_context(event_id: int) -> dict[str, Any] | None:
    row = await fetch_one("SELECT order_id, status, location, description, "
                          "to_char(timestamp, 'YYYY-MM-DD HH24:MI') FROM order_tracking WHERE id = %s", [event_id])
    if row is None:
        return None
    ctx = await order_context(row[0])
    if ctx is None:
        return None
    ctx["event"] = {"status": row[1], "status_display": STATUS_DISPLAY.get(row[1], row[1]), "location": row[2],
                    "description": row[3], "timestamp": row[4]}
    return ctx
