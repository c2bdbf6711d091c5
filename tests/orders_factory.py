"""Orders for the customer and dashboard tests, inserted as the orders issue's
actions would (the database's triggers keep the rollups either way)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from models.core.db import utcnow
from models.orders.tables import Order, OrderItem


async def make_order(customer=None, total="100.00", status="PENDING", payment_status="PENDING",
                     created_at: dt.datetime | None = None, items: list[tuple[str, int, str]] | None = None,
                     user=None, refunded: str | None = None) -> Order:
    """An order as the actions leave it; a REFUNDED one gave all of its total
    back unless ``refunded`` says how much."""
    created_at = created_at or utcnow()
    order_id = await Order.insert(
        user=user.id if user is not None else (customer.user_id if customer is not None else None),
        customer=customer.id if customer is not None else None,
        customer_name=customer.name if customer is not None else "Guest",
        customer_email=customer.email if customer is not None else "guest@example.com",
        status=status, payment_status=payment_status, subtotal=Decimal(total), total=Decimal(total),
        refunded_amount=Decimal(refunded if refunded is not None else (total if payment_status == "REFUNDED" else 0)),
        created_at=created_at, updated_at=created_at).aio_execute()
    for name, qty, price in items or [("Chair", 1, total)]:
        await OrderItem.insert(order=order_id, product_name=name, quantity=qty, unit_price=Decimal(price),
                               total_price=Decimal(price) * qty).aio_execute()
    return await Order.aio_get(Order.id == order_id)
