"""Demo shipping (``python server.py seed``, ``make run``): the methods, zones
with rates by weight and volume (US domestic, Canada, EU, UK, the rest of the
world), a free-shipping threshold, white-glove delivery for bulky items with
daily delivery slots, and the demo catalog's large furniture flagged bulky
(sofas made to order, wardrobes on backorder) so that all of it shows."""
from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pycountry

from models.core.db import fetch_all, fetch_one, transaction, utcnow
from models.core.seed import SEEDERS
from models.shipping.actions import seed_shipping_methods
from models.shipping.tables import ShippingMethod, ShippingRate, ShippingZone

log = logging.getLogger("avantlush.seed")

EU = ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
      "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"]
WHITE_GLOVE = ("White Glove Delivery", "Two-person delivery to the room of your choice, on the day you pick; "
               "packaging taken away", "149.00", 7)
# zone: (countries, free-shipping threshold, bulky deliveries a day)
ZONES = {
    "United States": (["US"], "999.00", 6),
    "Canada": (["CA"], "1499.00", 3),
    "European Union": (EU, "1299.00", 4),
    "United Kingdom": (["GB"], "999.00", 3),
    "Rest of the world": (None, None, None),  # every other country
}
# method -> zone -> [(basis, min, max, price)]
_PARCEL = [("weight", "0", "5", "4.99"), ("weight", "5", "30", "14.99"), ("weight", "30", "100", "39.00")]
RATES = {
    "Standard Shipping": {
        "United States": _PARCEL,
        "Canada": [("weight", "0", "5", "9.99"), ("weight", "5", "30", "24.99"), ("weight", "30", "100", "59.00")],
        "European Union": [("weight", "0", "5", "8.99"), ("weight", "5", "30", "19.99"),
                           ("weight", "30", "100", "49.00")],
        "United Kingdom": [("weight", "0", "5", "5.99"), ("weight", "5", "30", "16.99"),
                           ("weight", "30", "100", "42.00")],
        "Rest of the world": [("weight", "0", "5", "19.99"), ("weight", "5", "30", "59.00"),
                              ("weight", "30", "100", "149.00")],
    },
    "Express Shipping": {
        "United States": [("weight", "0", "30", "10.00"), ("weight", "30", "100", "59.00")],
        "Canada": [("weight", "0", "30", "29.99")],
        "European Union": [("weight", "0", "30", "24.99")],
        "United Kingdom": [("weight", "0", "30", "14.99")],
        "Rest of the world": [("weight", "0", "20", "49.00")],
    },
    "Next Day Delivery": {
        "United States": [("weight", "0", "20", "19.99")],
        "United Kingdom": [("weight", "0", "20", "14.99")],
    },
    # White glove: by volume (m3), and beyond 100 kg by weight too (the greater applies).
    WHITE_GLOVE[0]: {
        zone: [("volume", "0", "1", base), ("volume", "1", "3", f"{Decimal(base) + 50:.2f}"),
               ("volume", "3", None, f"{Decimal(base) + 150:.2f}"), ("weight", "0", None, base)]
        for zone, base in (("United States", "99.00"), ("Canada", "149.00"), ("European Union", "129.00"),
                           ("United Kingdom", "109.00"))
    },
}
# Demo catalog: large furniture is bulky; sofas are made to order, wardrobes sold on backorder.
BULKY_CATEGORIES = ("Sofas", "Beds", "Wardrobes", "Dining Tables", "Sideboards")


async def seed_demo_zones() -> int:
    """Zones and rates (when there are none yet), the white-glove method.
    Returns how many zones were added."""
    if await ShippingZone.select().aio_exists():
        return 0
    now = utcnow()
    name, description, price, days = WHITE_GLOVE
    if not await ShippingMethod.select().where(ShippingMethod.name == name).aio_exists():
        await ShippingMethod.aio_create(name=name, description=description, price=Decimal(price), estimated_days=days,
                                        handles_bulky=True, created_at=now, updated_at=now)
    taken = {c for countries, *_ in ZONES.values() if countries for c in countries}
    rest = sorted(c.alpha_2 for c in pycountry.countries if c.alpha_2 not in taken)
    zone_ids = {}
    for zone, (countries, threshold, capacity) in ZONES.items():
        created = await ShippingZone.aio_create(
            name=zone, countries=countries or rest, states=[], is_active=True, created_at=now, updated_at=now,
            free_shipping_threshold=Decimal(threshold) if threshold else None, delivery_capacity=capacity)
        zone_ids[zone] = created.id
    methods = {m.name: m.id for m in await ShippingMethod.select().aio_execute()}
    rows = [{"zone": zone_ids[zone], "shipping_method": methods[method], "basis": basis, "min_value": Decimal(lo),
             "max_value": Decimal(hi) if hi is not None else None, "price": Decimal(p), "created_at": now}
            for method, zones in RATES.items() if method in methods
            for zone, bands in zones.items() for basis, lo, hi, p in bands]
    await ShippingRate.insert_many(rows).aio_execute()
    return len(zone_ids)


async def flag_demo_furniture() -> int:
    """Large demo furniture bulky; sofas made to order (5 weeks, none on the
    shelf: each is made for its buyer), wardrobes on backorder (up to 10,
    restocked in 3 weeks). One sofa colour (the first sofa variation) has
    terms of its own (migrations/0027): on backorder, up to 4, arriving in 2
    weeks. Returns the products flagged."""
    if await fetch_one("SELECT 1 FROM product WHERE is_bulky LIMIT 1"):
        return 0
    async with transaction():
        await fetch_one("SELECT set_config('avantlush.stock_reason', 'seed', true)")  # the stock_movement rows' reason
        flagged = await _flag_furniture()
        await fetch_all("UPDATE product_variation v SET stock_quantity = 0 FROM product p, category c "
                        "WHERE p.id = v.product_id AND c.id = p.category_id AND c.name = 'Sofas' RETURNING v.id")
        await fetch_all("UPDATE product_variation SET stock_policy = 'backorder', backorder_limit = 4, restock_date = %s "
                        "WHERE id = (SELECT v.id FROM product_variation v JOIN product p ON p.id = v.product_id "
                        "JOIN category c ON c.id = p.category_id WHERE c.name = 'Sofas' ORDER BY v.id LIMIT 1) "
                        "RETURNING id", [utcnow().date() + dt.timedelta(days=14)])
        return len(flagged)


async def _flag_furniture() -> list[tuple]:
    return await fetch_all(
        "UPDATE product p SET is_bulky = TRUE, "
        "stock_quantity = CASE c.name WHEN 'Sofas' THEN 0 ELSE p.stock_quantity END, "
        "stock_policy = CASE c.name WHEN 'Sofas' THEN 'made_to_order' WHEN 'Wardrobes' THEN 'backorder' "
        "ELSE p.stock_policy END, "
        "lead_time_days = CASE c.name WHEN 'Sofas' THEN 35 ELSE p.lead_time_days END, "
        "backorder_limit = CASE c.name WHEN 'Wardrobes' THEN 10 ELSE p.backorder_limit END, "
        "restock_date = CASE c.name WHEN 'Wardrobes' THEN %s ELSE p.restock_date END "
        "FROM category c WHERE c.id = p.category_id AND c.name = ANY(%s) RETURNING p.id",
        [utcnow().date() + dt.timedelta(days=21), list(BULKY_CATEGORIES)])


async def seed_demo(_count: int, _progress: bool) -> None:
    added = await seed_shipping_methods()
    if added:
        log.info("demo shipping methods: %d", added)
    zones = await seed_demo_zones()
    if zones:
        log.info("demo shipping zones: %d", zones)
    flagged = await flag_demo_furniture()
    if flagged:
        log.info("demo bulky furniture: %d products", flagged)


SEEDERS["shipping_methods"] = seed_demo
