"""Delivery date slots for bulky items: the shopper lists open dates and picks
one at checkout; the order books it atomically (never overbooked, however
many checkouts race for the last delivery of a day); cancelling gives it back
once; staff set a day's capacity (never below what is booked)."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from models import cart
from models.core.db import fetch_one, utcnow
from models.orders import actions as orders
from tests.support.client import assert_envelope
from tests.support.factories import count, product, stock_of

ADDRESS = {"full_name": "Ada Buyer", "street_address": "1 Market Street", "city": "Austin", "state": "TX",
           "country": "US", "zip_code": "73301"}


async def setup(api, make_user, capacity=1):
    admin = await make_user(is_staff=True)
    glove = (await api.post("/api/shipping-methods/", json={"name": "White Glove", "price": "99.00",
                                                            "estimated_days": 7, "handles_bulky": True},
                            user=admin)).json()["id"]
    zone = (await api.post("/api/shipping-zones/", json={"name": "US", "countries": ["US"],
                                                         "delivery_capacity": capacity}, user=admin)).json()
    sofa = await product("Sofa", base_price="800.00", stock=20, is_bulky=True)
    return admin, glove, zone, sofa


async def booked(zone_id: int, day: str) -> int:
    row = await fetch_one("SELECT booked FROM delivery_slot WHERE zone_id = %s AND date = %s", [zone_id, day])
    return row[0] if row else 0


@pytest.mark.gen_test(timeout=60)
async def test_shopper_picks_a_date_and_cancelling_gives_it_back(api, make_user, count_queries):
    admin, glove, zone, sofa = await setup(api, make_user, capacity=2)
    shopper = await make_user()
    await cart.add_item(shopper.id, sofa, 1)
    with count_queries() as queries:
        resp = await api.get("/api/shipping/slots/?country=US&state=Texas", user=shopper)
    assert resp.status == 200, resp
    assert len(queries) <= 8
    body = resp.json()
    tomorrow = (utcnow().date() + dt.timedelta(days=1)).isoformat()
    assert body["zone"]["schedules_deliveries"] is True and body["bulky"] is True
    assert body["earliest_date"] == tomorrow and len(body["dates"]) == 30
    assert body["dates"][0] == {"date": tomorrow, "remaining": 2, "available": True}
    quote = (await api.post("/api/shipping/quote/", json={"country": "US"}, user=shopper)).json()
    assert quote["methods"][0]["requires_delivery_date"] is True

    base = {"shipping_method_id": glove, "shipping_address": ADDRESS}
    missing = assert_envelope(await api.post("/api/checkout/initiate/", json=base, user=shopper), 400)
    assert "delivery_date" in missing["errors"]
    today = utcnow().date().isoformat()
    late = (utcnow().date() + dt.timedelta(days=60)).isoformat()
    for day in (today, late):
        out = await api.post("/api/checkout/initiate/", json={**base, "delivery_date": day}, user=shopper)
        assert "delivery_date" in assert_envelope(out, 400)["errors"]
    day = body["dates"][3]["date"]
    init = await api.post("/api/checkout/initiate/", json={**base, "delivery_date": day}, user=shopper)
    assert init.status == 200 and init.json()["delivery_date"] == day
    paid = await api.post("/api/checkout/payment/", json={"payment_method_id": "pm_card_visa"}, user=shopper)
    assert paid.status == 200, paid
    order_id = paid.json()["order_id"]
    assert await booked(zone["id"], day) == 1
    order = (await api.get(f"/api/orders/{order_id}/", user=shopper)).json()
    assert order["delivery_date"] == day and order["estimated_delivery_on"] == day
    listed = (await api.get("/api/shipping/slots/?country=US", user=shopper)).json()["dates"]
    assert next(d for d in listed if d["date"] == day)["remaining"] == 1
    staff_view = (await api.get(f"/api/shipping-zones/{zone['id']}/slots/", user=admin)).json()
    assert next(d for d in staff_view if d["date"] == day) == {"zone_id": zone["id"], "date": day, "capacity": 2,
                                                               "booked": 1, "remaining": 1}
    lower = await api.put(f"/api/shipping-zones/{zone['id']}/slots/", json={"date": day, "capacity": 0}, user=admin)
    assert "capacity" in assert_envelope(lower, 400)["errors"]
    assert_envelope(await api.put(f"/api/shipping-zones/{zone['id']}/slots/", json={"date": day, "capacity": 5},
                                  user=shopper), 403)
    for _ in range(2):  # given back once
        await api.patch(f"/api/orders/{order_id}/update_status/", json={"status": "CANCELLED"}, user=admin)
    assert await booked(zone["id"], day) == 0
    closed = await api.put(f"/api/shipping-zones/{zone['id']}/slots/", json={"date": day, "capacity": 0}, user=admin)
    assert closed.status == 200 and closed.json()["remaining"] == 0
    listed = (await api.get("/api/shipping/slots/?country=US", user=shopper)).json()["dates"]
    assert next(d for d in listed if d["date"] == day) == {"date": day, "remaining": 0, "available": False}


@pytest.mark.gen_test(timeout=120)
async def test_concurrent_checkouts_for_the_last_delivery_of_a_day_book_it_once(api, make_user):
    _admin, glove, zone, sofa = await setup(api, make_user, capacity=1)
    day = (utcnow().date() + dt.timedelta(days=5)).isoformat()
    shoppers = [await make_user() for _ in range(8)]
    for shopper in shoppers:
        await cart.add_item(shopper.id, sofa, 1)
        init = await api.post("/api/checkout/initiate/", json={"shipping_method_id": glove, "shipping_address": ADDRESS,
                                                               "delivery_date": day}, user=shopper)
        assert init.status == 200, init
    answers = await asyncio.gather(*(api.post("/api/checkout/payment/", json={"payment_method_id": "pm_card_visa"},
                                              user=s) for s in shoppers))
    statuses = sorted(a.status for a in answers)
    assert statuses == [200] + [409] * 7, statuses
    assert "delivery_date" in next(a for a in answers if a.status == 409).json()["errors"]
    assert await booked(zone["id"], day) == 1
    assert await count("orders") == 1 and await stock_of(sofa) == 19  # the losers took nothing


@pytest.mark.gen_test(timeout=60)
async def test_an_expired_unpaid_order_gives_its_delivery_date_back(api, make_user):
    from models.orders.actions import LineIn, OrderDraft, Totals, price_lines

    _admin, _glove, zone, sofa = await setup(api, make_user, capacity=1)
    shopper = await make_user()
    day = utcnow().date() + dt.timedelta(days=3)
    lines = await price_lines([LineIn(sofa, 1)], admin=False)
    draft = OrderDraft(user_id=shopper.id, customer_id=None, customer_name="", customer_email=shopper.email,
                       lines=lines, totals=Totals(lines[0].total), delivery_date=day, delivery_zone_id=zone["id"])
    order_id, _ = await orders.create_order(draft)
    assert await booked(zone["id"], day.isoformat()) == 1
    assert await orders.expire_unpaid_orders(utcnow() + dt.timedelta(days=1)) == [order_id]
    assert await booked(zone["id"], day.isoformat()) == 0


@pytest.mark.gen_test(timeout=60)
async def test_a_hosted_payment_that_cannot_start_gives_the_delivery_date_back(api, make_user):
    # The default configuration: no PayPal keys, so the hosted start fails (503) after the
    # order reserved its stock and its delivery date; both go back at once.
    _admin, glove, zone, sofa = await setup(api, make_user, capacity=1)
    shopper = await make_user()
    await cart.add_item(shopper.id, sofa, 1)
    day = (utcnow().date() + dt.timedelta(days=4)).isoformat()
    init = await api.post("/api/checkout/initiate/", json={"shipping_method_id": glove, "shipping_address": ADDRESS,
                                                           "delivery_date": day, "payment_method": "paypal"},
                          user=shopper)
    assert init.status == 200, init
    assert_envelope(await api.post("/api/checkout/payment/", json={}, user=shopper), 503)
    assert await booked(zone["id"], day) == 0 and await stock_of(sofa) == 20
    assert await count("orders", "status = 'CANCELLED' AND NOT slot_held") == 1
