"""Delivery date slots for bulky items: each zone with a ``delivery_capacity``
takes that many bulky deliveries a day (staff may set a day's capacity in
``delivery_slot``); the shopper picks a date among the next
``SLOT_HORIZON_DAYS`` days after the cart's latest ship date; the order books
it when it is placed and gives it back when it is cancelled or expires.

Never overbooked: ``book_slot`` is ONE statement, ``INSERT ... ON CONFLICT
(zone_id, date) DO UPDATE SET booked = booked + 1 WHERE booked < capacity``.
The first booking of a day creates its row with the zone's capacity; a
concurrent one waits for that row's lock and re-checks the condition on the
row as it is then, so however many checkouts race for the last delivery of a
day, exactly one gets it (the CHECK ``booked <= capacity`` is the last line of defence).

``plan_delivery`` is the one rule of which deliveries take a date and which
dates may be picked, for checkout (a method chosen) and direct orders
(``POST /api/orders/``: no method, the shop's own delivery, ``OWN_DELIVERY``);
``models/orders/actions.py`` ``create_order`` books the date for both, after
re-checking the window against the ship dates the stock actually gave.
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from models.core.db import fetch_all, fetch_one, utcnow
from models.core.errors import AppError, ValidationFailed
from models.shipping.zones import Destination, Parcel, Zone, load_rules

SLOT_HORIZON_DAYS = 30
DATE_FULL = "This delivery date is fully booked: pick another (GET /api/shipping/slots/)."
NO_DATE = ("Only bulky items delivered by a method that handles them, to an address whose zone schedules "
           "deliveries, get a delivery date; leave it out for this order.")
# A direct order names no shipping method: the shop delivers bulky goods itself, on a date.
OWN_DELIVERY = SimpleNamespace(handles_bulky=True)


class SlotUnavailable(AppError):
    """409: the chosen delivery date filled up meanwhile."""

    status = 409


def needs_slot(method: Any, zone: Zone | None, parcel: Parcel) -> bool:
    """Whether this delivery needs a date: bulky goods, a method that handles
    them and a zone that schedules deliveries (has a daily capacity)."""
    return bool(parcel.bulky and getattr(method, "handles_bulky", False) and zone is not None
                and zone.delivery_capacity is not None)


def first_date(parcel: Parcel, today: dt.date | None = None) -> dt.date:
    """The earliest delivery date: the day after the latest ship date (or after today)."""
    today = today or utcnow().date()
    return max(parcel.ships_on or today, today) + dt.timedelta(days=1)


async def available_dates(zone: Zone, start: dt.date, days: int = SLOT_HORIZON_DAYS) -> list[dict[str, Any]]:
    """Each date from ``start`` for ``days`` days with its remaining capacity. One query."""
    rows = await fetch_all(
        "SELECT d::date, GREATEST(COALESCE(s.capacity, %s) - COALESCE(s.booked, 0), 0) "
        "FROM generate_series(%s::date, %s::date, interval '1 day') d "
        "LEFT JOIN delivery_slot s ON s.zone_id = %s AND s.date = d::date ORDER BY 1",
        [zone.delivery_capacity or 0, start, start + dt.timedelta(days=days - 1), zone.id])
    return [{"date": r[0].isoformat(), "remaining": r[1], "available": r[1] > 0} for r in rows]


async def check_date(zone: Zone, parcel: Parcel, day: dt.date | None) -> None:
    """ValidationFailed unless ``day`` is a date the shopper may pick now
    (in the window, with room left). The booking re-checks at placement."""
    if day is None:
        raise ValidationFailed("Choose a delivery date for your bulky items",
                               errors={"delivery_date": ["This field is required for bulky items "
                                                         "(GET /api/shipping/slots/ lists the dates)."]})
    check_window(parcel.ships_on, day)
    row = await fetch_one("SELECT capacity - booked FROM delivery_slot WHERE zone_id = %s AND date = %s",
                          [zone.id, day])
    remaining = row[0] if row is not None else (zone.delivery_capacity or 0)
    if remaining <= 0:
        raise ValidationFailed(DATE_FULL, errors={"delivery_date": [DATE_FULL]})


def check_window(ships_on: dt.date | None, day: dt.date) -> None:
    """ValidationFailed unless ``day`` falls in the window after goods that ship on ``ships_on`` (None: today)."""
    start = first_date(Parcel(ships_on=ships_on))
    if not start <= day < start + dt.timedelta(days=SLOT_HORIZON_DAYS):
        raise ValidationFailed(errors={"delivery_date": [
            f"Pick a date from {start.isoformat()} to "
            f"{(start + dt.timedelta(days=SLOT_HORIZON_DAYS - 1)).isoformat()}."]})


async def plan_delivery(method: Any, destination: Destination | None, parcel: Parcel,
                        day: dt.date | None) -> tuple[int | None, dt.date | None]:
    """``(zone id, date)`` of a scheduled bulky delivery to ``destination``
    (its most specific zone), ``(None, None)`` when this delivery takes no
    date. ``method``: the ShippingMethod chosen, None for a direct order
    (``OWN_DELIVERY``). Raises ValidationFailed naming ``delivery_date``: a
    date missing, outside the window or full; a date given for a delivery
    that takes none. Two to three queries (zones, rates; the day's slot)."""
    rules = await load_rules()
    zone = rules.zone_for(destination)
    if not needs_slot(method if method is not None else OWN_DELIVERY, zone, parcel):
        if day is not None:
            raise ValidationFailed(errors={"delivery_date": [NO_DATE]})
        return None, None
    await check_date(zone, parcel, day)
    return zone.id, day


async def book_slot(zone_id: int, day: dt.date) -> None:
    """Take one delivery of ``day`` in the zone, inside the caller's
    transaction (the order's). Raises SlotUnavailable when the day is full
    (the caller's transaction must roll back)."""
    row = await fetch_one(
        "INSERT INTO delivery_slot (zone_id, date, capacity, booked) "
        "SELECT z.id, %s, z.delivery_capacity, 1 FROM shipping_zone z WHERE z.id = %s AND z.delivery_capacity > 0 "
        "ON CONFLICT (zone_id, date) DO UPDATE SET booked = delivery_slot.booked + 1 "
        "WHERE delivery_slot.booked < delivery_slot.capacity RETURNING booked", [day, zone_id])
    if row is None:
        raise SlotUnavailable(DATE_FULL, {"delivery_date": [DATE_FULL]})


async def release_slot(zone_id: int | None, day: dt.date | None) -> None:
    """Give one delivery of ``day`` back (the caller makes sure it happens once)."""
    if zone_id is None or day is None:
        return
    await fetch_one("UPDATE delivery_slot SET booked = booked - 1 WHERE zone_id = %s AND date = %s AND booked > 0 "
                    "RETURNING booked", [zone_id, day])


async def set_capacity(zone_id: int, day: dt.date, capacity: int) -> dict[str, Any]:
    """Staff set how many deliveries ``day`` takes in the zone. Raises
    ValidationFailed when fewer than already booked (nothing changes)."""
    from models.shipping.zones import _zone

    await _zone(zone_id)
    row = await fetch_one(
        "INSERT INTO delivery_slot (zone_id, date, capacity, booked) VALUES (%s, %s, %s, 0) "
        "ON CONFLICT (zone_id, date) DO UPDATE SET capacity = EXCLUDED.capacity "
        "WHERE delivery_slot.booked <= EXCLUDED.capacity RETURNING capacity, booked", [zone_id, day, capacity])
    if row is None:
        booked = await fetch_one("SELECT booked FROM delivery_slot WHERE zone_id = %s AND date = %s", [zone_id, day])
        text = f"{booked[0] if booked else 0} deliveries are already booked that day: the capacity cannot be lower."
        raise ValidationFailed(text, errors={"capacity": [text]})
    return {"zone_id": zone_id, "date": day.isoformat(), "capacity": row[0], "booked": row[1],
            "remaining": row[0] - row[1]}


async def zone_days(zone_id: int, start: dt.date, days: int = SLOT_HORIZON_DAYS) -> list[dict[str, Any]]:
    """Staff view: each day's capacity, booked and remaining. One query after the zone's."""
    from models.shipping.zones import _zone

    zone = await _zone(zone_id)
    rows = await fetch_all(
        "SELECT d::date, COALESCE(s.capacity, %s), COALESCE(s.booked, 0) "
        "FROM generate_series(%s::date, %s::date, interval '1 day') d "
        "LEFT JOIN delivery_slot s ON s.zone_id = %s AND s.date = d::date ORDER BY 1",
        [zone.delivery_capacity or 0, start, start + dt.timedelta(days=days - 1), zone.id])
    return [{"zone_id": zone_id, "date": r[0].isoformat(), "capacity": r[1], "booked": r[2],
             "remaining": max(r[1] - r[2], 0)} for r in rows]
