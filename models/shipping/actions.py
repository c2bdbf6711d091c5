"""Shipping methods: listing, staff CRUD and the delivery-date rule."""
from __future__ import annotations

import datetime as dt
from typing import Any

import peewee

from models.core.db import money, transaction, utcnow
from models.core.errors import NotFound
from models.shipping.tables import ShippingMethod

NOT_FOUND = "Shipping method not found"


def delivery_date(estimated_days: int, start: dt.datetime | None = None) -> dt.datetime:
    """When a parcel sent at ``start`` (now, UTC) arrives: ``estimated_days``
    business days later, Saturdays and Sundays not counted. A start at a
    weekend counts from the next Monday; 0 days is ``start`` itself.

    Pure: orders and checkout reuse it for an order's expected delivery.
    """
    day = start or utcnow()
    remaining = max(0, int(estimated_days))
    while remaining:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            remaining -= 1
    return day


def shipping_payload(method: ShippingMethod, now: dt.datetime | None = None) -> dict[str, Any]:
    """The spec's shape (plus ``is_active``)."""
    return {
        "id": method.id,
        "name": method.name,
        "price": money(method.price),
        "estimated_days": method.estimated_days,
        "description": method.description,
        "delivery_date": delivery_date(method.estimated_days, now),
        "is_active": method.is_active,
        "handles_bulky": method.handles_bulky,
    }


async def list_shipping_methods(include_inactive: bool = False) -> list[ShippingMethod]:
    """Methods shoppers can choose, cheapest first (staff may ask for all). One query."""
    query = ShippingMethod.select()
    if not include_inactive:
        query = query.where(ShippingMethod.is_active)
    return list(await query.order_by(ShippingMethod.price, ShippingMethod.id).aio_execute())


async def get_shipping_method(method_id: int, include_inactive: bool = False) -> ShippingMethod:
    """One shipping method (an active one unless ``include_inactive``).

    Raises NotFound("Shipping method not found").
    """
    if not 0 < method_id <= 2**31 - 1:
        raise NotFound(NOT_FOUND)
    query = ShippingMethod.select().where(ShippingMethod.id == method_id)
    if not include_inactive:
        query = query.where(ShippingMethod.is_active)
    rows = list(await query.aio_execute())
    if not rows:
        raise NotFound(NOT_FOUND)
    return rows[0]


async def create_shipping_method(data: dict[str, Any]) -> ShippingMethod:
    now = utcnow()
    return await ShippingMethod.aio_create(**data, created_at=now, updated_at=now)


async def update_shipping_method(method_id: int, changes: dict[str, Any]) -> ShippingMethod:
    """Change fields of a method (staff). Raises NotFound."""
    async with transaction():
        method = await get_shipping_method(method_id, include_inactive=True)
        if changes:
            await ShippingMethod.update(**changes, updated_at=utcnow()).where(
                ShippingMethod.id == method.id).aio_execute()
    return await get_shipping_method(method_id, include_inactive=True)


async def delete_shipping_method(method_id: int) -> None:
    """Delete a method (staff). One that orders still refer to cannot go (a
    foreign key says so): it is deactivated instead, so shoppers no longer see
    it and past orders keep theirs. Raises NotFound."""
    await get_shipping_method(method_id, include_inactive=True)
    try:
        async with transaction():
            await ShippingMethod.delete().where(ShippingMethod.id == method_id).aio_execute()
    except peewee.IntegrityError:
        await ShippingMethod.update(is_active=False, updated_at=utcnow()).where(
            ShippingMethod.id == method_id).aio_execute()


DEMO_METHODS = [
    ("Standard Shipping", "Delivery within 3-7 business days", "4.99", 5),
    ("Express Shipping", "Delivery within 1-3 business days", "10.00", 2),
    ("Next Day Delivery", "Order before 2 pm for delivery the next business day", "19.99", 1),
]


async def seed_shipping_methods() -> int:
    """The demo methods, when there are none yet. Returns how many were added."""
    if await ShippingMethod.select().aio_exists():
        return 0
    now = utcnow()
    await ShippingMethod.insert_many([
        {"name": n, "description": d, "price": money(p), "estimated_days": days, "is_active": True,
         "created_at": now, "updated_at": now} for n, d, p, days in DEMO_METHODS]).aio_execute()
    return len(DEMO_METHODS)
