"""What order emails say: the context of each message, read fresh by the
Celery tasks in tasks/orders.py (they take ids, so a redelivery re-reads)."""
from __future__ import annotations

import hashlib
from typing import Any

import settings
from models.accounts.tokens import read_signed_link, signed_link
from models.core.db import fetch_all, fetch_one
from models.orders.tables import STATUS_DISPLAY

# A guest's order is seen through a signed link in its emails (no account to sign in to).
GUEST_ORDER_LINK = "guest_order"
GUEST_ORDER_LINK_DAYS = 30


def email_digest(email: str) -> str:
    """What a guest order link says of its address: a digest (a link shared or
    logged does not show the address), bound so that it stops working if the
    order's email changes."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def guest_order_token(order_id: int, email: str) -> str:
    return signed_link(GUEST_ORDER_LINK, {"oid": order_id, "eh": email_digest(email)}, GUEST_ORDER_LINK_DAYS * 86400)


def guest_order_id(token: str) -> tuple[int, str] | None:
    """``(order id, email digest)`` of a valid, unexpired guest order link; None otherwise."""
    claims = read_signed_link(GUEST_ORDER_LINK, token)
    if claims is None or not isinstance(claims.get("oid"), int) or not isinstance(claims.get("eh"), str):
        return None
    return claims["oid"], claims["eh"]


async def order_context(order_id: int) -> dict[str, Any] | None:
    row = await fetch_one(
        "SELECT id, order_number, customer_name, customer_email, status, payment_status, subtotal::text, "
        "discount::text, shipping_cost::text, tax::text, total::text, shipping_address, shipping_city, "
        "shipping_country, to_char(created_at, 'YYYY-MM-DD HH24:MI'), to_char(delivery_date, 'YYYY-MM-DD'), "
        "created_at::date, (SELECT u.is_guest FROM users u WHERE u.id = orders.user_id), discount_lines "
        "FROM orders WHERE id = %s", [order_id])
    if row is None:
        return None
    items = await fetch_all("SELECT product_name, quantity, unit_price::text, total_price::text, expected_ship_date "
                            "FROM order_item WHERE order_id = %s ORDER BY id", [order_id])
    keys = ("id", "order_number", "customer_name", "customer_email", "status", "payment_status", "subtotal",
            "discount", "shipping_cost", "tax", "total", "shipping_address", "shipping_city", "shipping_country",
            "created_at", "delivery_date")
    ctx = dict(zip(keys, row))
    ordered_on = row[16]
    ctx["guest_order_url"] = None
    if row[17] and ctx["customer_email"]:
        token = guest_order_token(ctx["id"], ctx["customer_email"])
        ctx["guest_order_url"] = f"{settings.FRONTEND_URL.rstrip('/')}/guest-orders/{token}"
    ctx["status_display"] = STATUS_DISPLAY.get(ctx["status"], ctx["status"])
    # The promotion that priced the order, as stored at placement (orders.discount_lines).
    ctx["discount_lines"] = [{"label": line.get("code") or line.get("name") or "Promotion",
                              "name": line.get("name") or "", "code": line.get("code"),
                              "description": line.get("description") or "", "amount": line.get("amount") or "0.00",
                              "shipping_discount": line.get("shipping_discount") or "0.00"}
                             for line in (row[18] or []) if isinstance(line, dict)]
    # A line's expected ship date (order_item.expected_ship_date, models/catalog/stock_policy.py)
    # is told when it is later than the order's own day: backorders, made to order.
    ctx["items"] = [{"name": n, "quantity": q, "unit_price": u, "total_price": t,
                     "ships_on": ships.isoformat() if ships is not None and ships > ordered_on else None}
                    for n, q, u, t, ships in items]
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
