"""Stock policy per product: deny (as before), backorder (beyond the shelf up
to a limit, shipped on the restock date) and made_to_order (no limit, shipped
after the lead time). The cart, checkout, order and confirmation email show
the expected ship date; backorder limits hold under concurrent orders; stock
arriving covers what is owed first; cancelling gives back what was owed first."""
from __future__ import annotations

import asyncio
import datetime as dt
import itertools

import pytest

from models import cart
from models.catalog.stock_policy import STOCK_POLICIES, expected_ship_date, sellable_stock
from models.core import mail
from models.core.db import fetch_all, fetch_one, utcnow
from models.orders.notify import order_context
from tests.support.client import assert_envelope
from tests.support.factories import product, stock_of, variation

ADDRESS = {"full_name": "Ada Buyer", "street_address": "1 Market Street", "city": "Lagos", "state": "Lagos",
           "country": "NG", "zip_code": "100001"}


async def owed(product_id: int) -> tuple[int, int]:
    return await fetch_one("SELECT stock_quantity, backordered FROM product WHERE id = %s", [product_id])


@pytest.mark.gen_test
async def test_sellable_stock_sql_twin_agrees_with_python():
    cases = list(itertools.product(STOCK_POLICIES, (0, 1, 7), (0, 2, 9), (0, 3, 10)))
    rows = await fetch_all("SELECT sellable_stock(p, s, b, l) FROM unnest(%s::text[], %s::int[], %s::int[], "
                           "%s::int[]) AS t(p, s, b, l)", [[c[0] for c in cases], [c[1] for c in cases],
                                                          [c[2] for c in cases], [c[3] for c in cases]])
    assert [r[0] for r in rows] == [sellable_stock(*c) for c in cases]


def test_expected_ship_date_rule():
    today = dt.date(2026, 3, 2)
    later = dt.date(2026, 4, 1)
    assert expected_ship_date("deny", True, None, 0, today) == today
    assert expected_ship_date("deny", False, None, 0, today) is None
    assert expected_ship_date("backorder", False, later, 0, today) == later
    assert expected_ship_date("backorder", False, dt.date(2026, 1, 1), 0, today) == today  # a past restock date
    assert expected_ship_date("backorder", False, None, 0, today) is None
    assert expected_ship_date("backorder", True, later, 0, today) == today
    assert expected_ship_date("made_to_order", False, None, 21, today) == dt.date(2026, 3, 23)


@pytest.mark.gen_test(timeout=60)
async def test_backorder_sells_to_its_limit_and_shows_the_restock_date_everywhere(api, make_user):
    shopper, admin = await make_user(full_name="Ada Buyer"), await make_user(is_staff=True)
    restock = utcnow().date() + dt.timedelta(days=20)
    chair = await product("Walnut Chair", stock=2, base_price="300.00", stock_policy="backorder",
                          backorder_limit=3, restock_date=restock)
    too_many = await api.post("/api/cart/add-item/", json={"product_id": chair, "quantity": 6}, user=shopper)
    assert_envelope(too_many, 400, "Only 5 left")
    assert (await api.post("/api/cart/add-item/", json={"product_id": chair, "quantity": 2}, user=shopper)).status == 201
    line = (await api.get("/api/cart/", user=shopper)).json()["items"][0]
    assert line["stock_policy"] == "backorder" and line["expected_ship_date"] == utcnow().date().isoformat()
    assert line["stock_status"] == "active" and line["stock_quantity"] == 2
    added = await api.post("/api/cart/add-item/", json={"product_id": chair, "quantity": 3}, user=shopper)
    assert added.status == 201 and added.json()["cart_item"]["expected_ship_date"] == restock.isoformat()
    line = (await api.get("/api/cart/", user=shopper)).json()["items"][0]
    assert line["quantity"] == 5 and line["expected_ship_date"] == restock.isoformat()
    assert line["stock_status"] == "active"

    init = await api.post("/api/checkout/initiate/", json={"shipping_address": ADDRESS,
                                                           "shipping_method_id": await _flat_method()}, user=shopper)
    assert init.status == 200, init
    assert init.json()["items"][0]["expected_ship_date"] == restock.isoformat()
    paid = await api.post("/api/checkout/payment/", json={"payment_method_id": "pm_card_visa"}, user=shopper)
    assert paid.status == 200, paid
    order_id = paid.json()["order_id"]
    assert await owed(chair) == (0, 3)
    order = (await api.get(f"/api/orders/{order_id}/", user=shopper)).json()
    assert order["items"][0]["expected_ship_date"] == restock.isoformat()
    assert order["estimated_delivery_on"] > restock.isoformat()  # delivery follows the restock
    ctx = await order_context(order_id)
    _, html, text = mail.render("order_confirmation", **ctx)
    assert f"ships {restock.isoformat()}" in text and f"Ships {restock.isoformat()}" in html

    # the limit is reached: nothing more can be sold until stock arrives
    other = await make_user()
    assert_envelope(await api.post("/api/cart/add-item/", json={"product_id": chair, "quantity": 1}, user=other),
                    400, "Product is out of stock")
    # stock arriving covers what is owed first: 5 arrive, 3 were owed
    put = await api.patch(f"/api/products/{chair}/", json={"stock_quantity": 5}, user=admin)
    assert put.status == 200 and put.json()["stock_quantity"] == 2 and put.json()["backordered"] == 0
    # cancelling gives the order's 5 units back to the shelf
    await api.patch(f"/api/orders/{order_id}/update_status/", json={"status": "CANCELLED"}, user=admin)
    assert await owed(chair) == (7, 0)


@pytest.mark.gen_test(timeout=60)
async def test_cancelling_a_backorder_gives_back_what_is_owed_first(api, make_user):
    admin, first, second = await make_user(is_staff=True), await make_user(), await make_user()
    sofa = await product("Sofa", stock=2, base_price="900.00", stock_policy="backorder", backorder_limit=10)
    a = await api.post("/api/orders/", json={"items": [{"product_id": sofa, "quantity": 5}]}, user=first)
    b = await api.post("/api/orders/", json={"items": [{"product_id": sofa, "quantity": 2}]}, user=second)
    assert a.status == b.status == 201
    assert await owed(sofa) == (0, 5)  # 7 sold, 2 from the shelf
    await api.patch(f"/api/orders/{a.json()['order_id']}/update_status/", json={"status": "CANCELLED"}, user=admin)
    assert await owed(sofa) == (0, 0)  # the 2 on the shelf now cover the second order
    await api.patch(f"/api/orders/{b.json()['order_id']}/update_status/", json={"status": "CANCELLED"}, user=admin)
    assert await owed(sofa) == (2, 0)


async def _flat_method() -> int:
    from decimal import Decimal

    from models.shipping import create_shipping_method

    return (await create_shipping_method({"name": "Standard", "price": Decimal("5.00"), "estimated_days": 3,
                                          "description": ""})).id


@pytest.mark.gen_test(timeout=120)
async def test_concurrent_orders_never_exceed_the_backorder_limit(api, make_user):
    lamp = await product("Brass Lamp", stock=2, base_price="50.00", stock_policy="backorder", backorder_limit=4,
                         restock_date=utcnow().date() + dt.timedelta(days=9))
    buyers = [await make_user() for _ in range(14)]
    answers = await asyncio.gather(*(api.post("/api/orders/", json={"items": [{"product_id": lamp, "quantity": 1}]},
                                              user=u) for u in buyers))
    statuses = sorted(a.status for a in answers)
    assert statuses == [201] * 6 + [400] * 8, statuses
    assert await owed(lamp) == (0, 4)
    ships = sorted(r[0] for r in await fetch_all("SELECT expected_ship_date FROM order_item WHERE product_id = %s",
                                                 [lamp]))
    assert ships.count(utcnow().date()) == 2 and len(ships) == 6  # two from the shelf, four on the restock date


@pytest.mark.gen_test(timeout=60)
async def test_made_to_order_has_no_limit_and_ships_after_its_lead_time(api, make_user):
    shopper = await make_user()
    table = await product("Oak Table", stock=0, base_price="1200.00", stock_policy="made_to_order", lead_time_days=21)
    resp = await api.post("/api/orders/", json={"items": [{"product_id": table, "quantity": 40}]}, user=shopper)
    assert resp.status == 201, resp
    assert await owed(table) == (0, 40)
    detail = (await api.get(f"/api/orders/{resp.json()['order_id']}/", user=shopper)).json()
    assert detail["items"][0]["expected_ship_date"] == (utcnow().date() + dt.timedelta(days=21)).isoformat()
    await cart.add_item(shopper.id, table, 500)
    line = (await api.get("/api/cart/", user=shopper)).json()["items"][0]
    assert line["stock_status"] == "active" and line["stock_policy"] == "made_to_order"


@pytest.mark.gen_test(timeout=60)
async def test_deny_is_unchanged_and_variations_keep_their_own_counters(api, make_user):
    shopper = await make_user()
    plain = await product("Cushion", stock=1, base_price="20.00")
    assert_envelope(await api.post("/api/orders/", json={"items": [{"product_id": plain, "quantity": 2}]},
                                   user=shopper), 400)
    assert await stock_of(plain) == 1
    bed = await product("Bed", stock=0, base_price="700.00", stock_policy="backorder", backorder_limit=2,
                        restock_date=utcnow().date() + dt.timedelta(days=5))
    queen = await variation(bed, "Queen", stock=1)
    ok = await api.post("/api/orders/", json={"items": [{"product_id": bed, "variation_id": queen, "quantity": 3}]},
                        user=shopper)
    assert ok.status == 201, ok
    assert await fetch_one("SELECT stock_quantity, backordered FROM product_variation WHERE id = %s", [queen]) == (0, 2)
    assert await owed(bed) == (0, 0)


@pytest.mark.gen_test
async def test_staff_set_the_stock_policy_and_bad_values_are_400(api, make_user):
    admin = await make_user(is_staff=True)
    body = {"name": "Sideboard", "sku": "SB-1", "base_price": "900.00", "stock_policy": "Made_To_Order",
            "lead_time_days": 30, "is_bulky": True, "weight": "80", "length": "180", "width": "45", "height": "80"}
    resp = await api.post("/api/products/", json=body, user=admin)
    assert resp.status == 201, resp
    out = resp.json()
    assert (out["stock_policy"], out["lead_time_days"], out["is_bulky"], out["backordered"]) == \
        ("made_to_order", 30, True, 0)
    patched = await api.patch(f"/api/products/{out['id']}/", json={"stock_policy": "backorder", "backorder_limit": 10,
                                                                   "restock_date": "2027-01-15"}, user=admin)
    assert patched.status == 200 and patched.json()["restock_date"] == "2027-01-15"
    for bad, field in [({"stock_policy": "sometimes"}, "stock_policy"), ({"lead_time_days": 400}, "lead_time_days"),
                       ({"backorder_limit": -1}, "backorder_limit"), ({"restock_date": "soon"}, "restock_date")]:
        assert field in assert_envelope(await api.patch(f"/api/products/{out['id']}/", json=bad, user=admin),
                                        400)["errors"]
