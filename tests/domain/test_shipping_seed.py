"""The demo shipping data: zones cover every country, rates price parcels by
weight and bulky ones by volume, white glove schedules deliveries."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from models.shipping import Destination, Parcel, load_rules, shipping_offers
from models.shipping.actions import seed_shipping_methods
from models.shipping.seed import seed_demo_zones


@pytest.mark.gen_test
async def test_demo_zones_price_by_place_and_size():
    await seed_shipping_methods()
    assert await seed_demo_zones() == 5
    assert await seed_demo_zones() == 0  # once
    rules = await load_rules()
    assert rules.zone_for(Destination.of("US", "NY")).name == "United States"
    assert rules.zone_for(Destination.of("France")).name == "European Union"
    assert rules.zone_for(Destination.of("NG")).name == "Rest of the world"
    cushion = Parcel(weight=Decimal(1), volume=Decimal("0.02"), goods=Decimal("40.00"))
    zone, offers = await shipping_offers(Destination.of("US"), cushion)
    prices = {o.method.name: o.price for o in offers}
    assert prices["Standard Shipping"] == Decimal("4.99") and prices["Next Day Delivery"] == Decimal("19.99")
    wardrobe = Parcel(weight=Decimal(85), volume=Decimal("1.6"), goods=Decimal("1100.00"), bulky=True)
    zone, offers = await shipping_offers(Destination.of("US"), wardrobe)
    assert [(o.method.name, o.price) for o in offers] == [("White Glove Delivery", Decimal("149.00"))]
    assert zone.delivery_capacity == 6
    _, offers = await shipping_offers(Destination.of("US"), Parcel(weight=Decimal(20), goods=Decimal("1000.00")))
    assert {o.method.name: o.price for o in offers}["Standard Shipping"] == Decimal("0.00")  # over the threshold
    _, offers = await shipping_offers(Destination.of("NG"), wardrobe)
    assert offers == []  # no white glove there


@pytest.mark.gen_test
async def test_demo_furniture_is_bulky_sofas_made_to_order_wardrobes_backordered_one_sofa_colour_its_own():
    from models.core.db import fetch_all
    from models.shipping.seed import flag_demo_furniture
    from tests.support.factories import category, product, variation

    sofas, wardrobes, lamps = await category("Sofas"), await category("Wardrobes"), await category("Table Lamps")
    sofa = await product("Linen Sofa", category=sofas, stock=12)
    await variation(sofa, "Green", stock=4)
    wardrobe = await product("Oak Wardrobe", category=wardrobes, stock=3)
    lamp = await product("Lamp", category=lamps, stock=9)
    assert await flag_demo_furniture() == 2
    assert await flag_demo_furniture() == 0
    rows = {r[0]: r[1:] for r in await fetch_all(
        "SELECT id, is_bulky, stock_policy, stock_quantity, lead_time_days, backorder_limit FROM product")}
    assert rows[sofa] == (True, "made_to_order", 0, 35, 0)
    assert rows[wardrobe] == (True, "backorder", 3, 0, 10)
    assert rows[lamp] == (False, "deny", 9, 0, 0)
    assert await fetch_all("SELECT stock_quantity FROM product_variation") == [(0,)]
    # one sofa colour has terms of its own: on backorder, up to 4, in two weeks (the product's are made to order)
    from models.core.db import utcnow

    assert await fetch_all("SELECT stock_policy, backorder_limit, restock_date, lead_time_days "
                           "FROM product_variation") == [("backorder", 4, utcnow().date() + dt.timedelta(days=14), None)]
    assert await fetch_all("SELECT DISTINCT reason FROM stock_movement") == [("seed",)]
