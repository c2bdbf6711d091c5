"""What shipment and return emails say: the context of each message, read
fresh by the Celery tasks in tasks/fulfilment.py (they take ids)."""
from __future__ import annotations

from typing import Any

from models.core.db import fetch_all, fetch_one
from models.fulfilment.carriers import CARRIERS
from models.orders.notify import order_context

# What the subject says a shipment is: shipped (on its way), delivered, its
# tracking details corrected, or cancelled (only emails for a shipment the
# customer was told about: models/fulfilment/shipments.py).
STATUS_DISPLAY = {"shipped": "on its way", "delivered": "delivered",
                  "corrected": "on its way with new tracking details", "cancelled": "cancelled"}

RETURN_STATUS_TEXT = {
    "requested": "We have your return request",
    "approved": "Your return is approved: please send the items back",
    "rejected": "Your return request was declined",
    "received": "We received your returned items",
    "refunded": "Your return is refunded",
}


async def shipment_context(shipment_id: int, status: str) -> dict[str, Any] | None:
    row = await fetch_one("SELECT order_id, carrier, tracking_number, tracking_url FROM shipment WHERE id = %s",
                          [shipment_id])
    if row is None:
        return None
    ctx = await order_context(row[0])
    if ctx is None:
        return None
    lines = await fetch_all("SELECT i.product_name, sl.quantity FROM shipment_line sl JOIN order_item i "
                            "ON i.id = sl.order_item_id WHERE sl.shipment_id = %s ORDER BY i.id", [shipment_id])
    ctx["shipment"] = {"id": shipment_id, "status": status,
                       "status_display": STATUS_DISPLAY.get(status, "on its way"),
                       "carrier": CARRIERS.get(row[1], (row[1], None))[0], "tracking_number": row[2],
                       "tracking_url": row[3] or "", "lines": [{"name": n, "quantity": q} for n, q in lines]}
    return ctx


async def return_context(return_id: int, status: str, note: str = "") -> dict[str, Any] | None:
    row = await fetch_one("SELECT order_id, reason, refund_amount::text, restocking_fee::text "
                          "FROM order_return WHERE id = %s", [return_id])
    if row is None:
        return None
    ctx = await order_context(row[0])
    if ctx is None:
        return None
    lines = await fetch_all("SELECT i.product_name, rl.quantity FROM return_line rl JOIN order_item i "
                            "ON i.id = rl.order_item_id WHERE rl.return_id = %s ORDER BY i.id", [return_id])
    ctx["ret"] = {"id": return_id, "status": status, "headline": RETURN_STATUS_TEXT.get(status, status),
                  "reason": row[1], "note": note, "refund_amount": row[2] or "", "restocking_fee": row[3] or "0.00",
                  "lines": [{"name": n, "quantity": q} for n, q in lines]}
    return ctx
