"""Delivery options for the shopper's current cart and a destination: the
methods offered there with their prices (``shipping_quote``) and the delivery
dates open for bulky items (``delivery_slots``). Rules in models/shipping
(zones.py, slots.py); the cart's measures in models/cart (``price_cart``'s parcel).
"""
from __future__ import annotations

from typing import Any

from models.core.db import fetch_one, money, utcnow
from models.core.errors import ValidationFailed
from models.customers.countries import find_country

NEED_COUNTRY = "Give address_id (one of yours) or a country."


async def destination_of(user_id: int, address_id: int | None, country: str | None, state: str | None,
                         zip_code: str | None = None) -> Any:
    """A models.shipping.Destination from one of the user's addresses or a
    country (+ state, postal code). Raises ValidationFailed naming the field."""
    from models.shipping import Destination

    if address_id is not None:
        row = await fetch_one("SELECT country, state, zip_code FROM address WHERE id = %s AND user_id = %s",
                              [address_id, user_id])
        if row is None:
            raise ValidationFailed(errors={"address_id": [f'Invalid pk "{address_id}" - object does not exist.']})
        country, state, zip_code = row
    if not (country or "").strip():
        raise ValidationFailed(NEED_COUNTRY, errors={"country": [NEED_COUNTRY]})
    if find_country(country) is None:
        raise ValidationFailed(errors={"country": ["Enter a valid country: an ISO 3166 code (US, NGA) or an "
                                                   "English name."]})
    return Destination.of(country, state, zip_code)


async def _cart_parcel(user_id: int, empty_ok: bool = False) -> Any:
    from models import cart
    from models.cart.actions import EMPTY
    from models.shipping import Parcel

    try:
        quote = await cart.price_cart(user_id)
    except ValidationFailed as exc:
        if empty_ok and exc.message == EMPTY:
            return Parcel()
        raise
    return quote.parcel


def _zone_brief(zone: Any) -> dict[str, Any] | None:
    if zone is None:
        return None
    return {"id": zone.id, "name": zone.name,
            "free_shipping_threshold": money(zone.free_shipping_threshold)
            if zone.free_shipping_threshold is not None else None,
            "schedules_deliveries": zone.delivery_capacity is not None}


async def shipping_quote(user: Any, address_id: int | None = None, country: str | None = None,
                         state: str | None = None, zip_code: str | None = None) -> dict[str, Any]:
    """The shipping methods that deliver the user's cart to the destination,
    with their prices for it, cheapest first. Raises ValidationFailed (no or
    unknown destination, "Cart is empty", the cart's stock errors)."""
    from models import shipping

    destination = await destination_of(user.id, address_id, country, state, zip_code)
    parcel = await _cart_parcel(user.id)
    zone, offers = await shipping.shipping_offers(destination, parcel)
    now = utcnow()
    threshold = zone.free_shipping_threshold if zone is not None else None
    return {
        "country": destination.country, "state": destination.state or None,
        "postal_code": destination.postal_code or None, "zone": _zone_brief(zone),
        "bulky": parcel.bulky, "weight_kg": f"{parcel.weight:.3f}", "volume_m3": f"{parcel.volume:.3f}",
        "goods_total": money(parcel.goods),
        "amount_to_free_shipping": money(max(threshold - parcel.goods, 0)) if threshold is not None else None,
        "methods": [{
            "id": o.method.id, "name": o.method.name, "description": o.method.description,
            "price": money(o.price), "estimated_days": o.method.estimated_days,
            "delivery_date": shipping.delivery_date(o.method.estimated_days, now),
            "handles_bulky": o.method.handles_bulky,
            "requires_delivery_date": shipping.needs_slot(o.method, zone, parcel),
        } for o in offers],
    }


async def delivery_slots(user: Any, address_id: int | None = None, country: str | None = None,
                         state: str | None = None, zip_code: str | None = None) -> dict[str, Any]:
    """The delivery dates open for the user's cart at the destination (its
    zone's capacity less what is booked), from the day after the cart's
    latest ship date (an empty cart: from tomorrow). ``dates`` is empty when
    the zone schedules no deliveries."""
    from models import shipping

    destination = await destination_of(user.id, address_id, country, state, zip_code)
    parcel = await _cart_parcel(user.id, empty_ok=True)
    rules = await shipping.load_rules()
    zone = rules.zone_for(destination)
    start = shipping.first_date(parcel)
    dates = await shipping.available_dates(zone, start) if zone is not None and zone.delivery_capacity is not None \
        else []
    return {"zone": _zone_brief(zone), "bulky": parcel.bulky,
            "earliest_date": start.isoformat(), "dates": dates}
