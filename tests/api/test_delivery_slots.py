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


# --- direct orders (POST /api/orders/) book a delivery date as checkout does ----------------

DIRECT = {"shipping_address": "1 Market Street", "shipping_city": "Austin", "shipping_state": "TX",
          "shipping_country": "US", "shipping_zip": "73301"}


@pytest.mark.gen_test(timeout=60)
async def test_direct_order_books_a_date_and_refuses_bad_ones_writing_nothing(api, make_user):
    admin, _glove, zone, sofa = await setup(api, make_user, capacity=1)
    shopper, rival = await make_user(), await make_user()
    items = {"items": [{"product_id": sofa, "quantity": 1}], **DIRECT}
    day = (utcnow().date() + dt.timedelta(days=4)).isoformat()
    too_soon = utcnow().date().isoformat()
    too_late = (utcnow().date() + dt.timedelta(days=45)).isoformat()
    for body in ({**items}, {**items, "delivery_date": too_soon}, {**items, "delivery_date": too_late},
                 {**items, "delivery_date": "tomorrow"}):
        refused = await api.post("/api/orders/", json=body, user=shopper)
        assert "delivery_date" in assert_envelope(refused, 400)["errors"], (body, refused.json())
    assert await count("orders") == 0 and await stock_of(sofa) == 20 and await booked(zone["id"], day) == 0

    placed = await api.post("/api/orders/", json={**items, "delivery_date": day}, user=shopper)
    assert placed.status == 201, placed
    order_id = placed.json()["order_id"]
    assert await booked(zone["id"], day) == 1 and await stock_of(sofa) == 19
    detail = (await api.get(f"/api/orders/{order_id}/", user=shopper)).json()
    assert detail["delivery_date"] == day and detail["slot_held"] is True and detail["delivery_issue"] is None
    assert detail["estimated_delivery_on"] == day

    # the day is full: the rival is refused (400 naming the field), nothing written
    full = await api.post("/api/orders/", json={**items, "delivery_date": day}, user=rival)
    assert "delivery_date" in assert_envelope(full, 400)["errors"]
    assert await count("orders") == 1 and await stock_of(sofa) == 19 and await booked(zone["id"], day) == 1
    # a date for goods that take none (not bulky, or no zone that schedules deliveries)
    lamp = await product("Lamp", base_price="40.00", stock=5)
    plain = await api.post("/api/orders/", json={"items": [{"product_id": lamp, "quantity": 1}], **DIRECT,
                                                 "delivery_date": day}, user=rival)
    assert "delivery_date" in assert_envelope(plain, 400)["errors"]
    abroad = await api.post("/api/orders/", json={**items, "shipping_country": "NG", "shipping_state": "Lagos",
                                                  "delivery_date": day}, user=rival)
    assert "delivery_date" in assert_envelope(abroad, 400)["errors"]
    assert await count("orders") == 1

    # cancelling frees the day (once), and the rival gets it
    assert (await api.post(f"/api/orders/{order_id}/cancel/", user=shopper)).status == 200
    assert (await api.post(f"/api/orders/{order_id}/cancel/", user=shopper)).status == 400
    assert await booked(zone["id"], day) == 0
    again = await api.post("/api/orders/", json={**items, "delivery_date": day}, user=rival)
    assert again.status == 201, again
    assert await booked(zone["id"], day) == 1
    # abroad without a date is fine: no zone schedules deliveries there
    ok = await api.post("/api/orders/", json={**items, "shipping_country": "NG", "shipping_state": "Lagos"},
                        user=rival)
    assert ok.status == 201, ok
    # staff cannot give a date to an order without a scheduled delivery
    unscheduled = await api.patch(f"/api/orders/{ok.json()['order_id']}/", json={"delivery_date": day}, user=admin)
    assert "delivery_date" in assert_envelope(unscheduled, 400)["errors"]


@pytest.mark.gen_test(timeout=60)
async def test_direct_order_from_the_cart_with_a_date_and_the_admin_modal(api, make_user):
    admin, glove, zone, sofa = await setup(api, make_user, capacity=3)
    shopper = await make_user()
    day = (utcnow().date() + dt.timedelta(days=6)).isoformat()
    await cart.add_item(shopper.id, sofa, 1)
    missing = await api.post("/api/orders/", json={**DIRECT, "shipping_method_id": glove}, user=shopper)
    assert "delivery_date" in assert_envelope(missing, 400)["errors"]
    placed = await api.post("/api/orders/", json={**DIRECT, "shipping_method_id": glove, "delivery_date": day},
                            user=shopper)
    assert placed.status == 201, placed
    order_id = placed.json()["order_id"]
    order = (await api.get(f"/api/orders/{order_id}/", user=shopper)).json()
    assert order["delivery_date"] == day and order["shipping_cost"] == "99.00" and order["slot_held"] is True
    assert await booked(zone["id"], day) == 1
    # expiry gives it back
    assert await orders.expire_unpaid_orders(utcnow() + dt.timedelta(days=1)) == [order_id]
    assert await booked(zone["id"], day) == 0
    # the admin modal books the same way; a cancelled record books nothing
    customer = await fetch_one("SELECT id FROM customer WHERE user_id = %s", [shopper.id])
    body = {"customer_id": customer[0], "items": [{"product_id": sofa, "quantity": 1, "price": "700.00"}],
            **DIRECT, "delivery_date": day}
    made = await api.post("/api/orders/", json=body, user=admin)
    assert made.status == 201 and made.json()["delivery_date"] == day, made
    assert await booked(zone["id"], day) == 1
    recorded = await api.post("/api/orders/", json={**body, "status": "CANCELLED"}, user=admin)
    assert "delivery_date" in assert_envelope(recorded, 400)["errors"]


@pytest.mark.gen_test(timeout=120)
async def test_concurrent_direct_orders_for_the_last_delivery_of_a_day_book_it_once(api, make_user):
    _admin, _glove, zone, sofa = await setup(api, make_user, capacity=1)
    day = (utcnow().date() + dt.timedelta(days=5)).isoformat()
    shoppers = [await make_user() for _ in range(8)]
    body = {"items": [{"product_id": sofa, "quantity": 1}], **DIRECT, "delivery_date": day}
    answers = await asyncio.gather(*(api.post("/api/orders/", json=body, user=s) for s in shoppers))
    statuses = sorted(a.status for a in answers)
    assert statuses.count(201) == 1 and set(statuses) <= {201, 400, 409}, statuses
    for a in answers:
        if a.status != 201:
            assert "delivery_date" in assert_envelope(a, a.status)["errors"]
    assert await booked(zone["id"], day) == 1
    assert await count("orders") == 1 and await stock_of(sofa) == 19


@pytest.mark.gen_test(timeout=60)
async def test_rebooking_a_revived_order_flags_a_past_day_or_a_deleted_zone(api, make_user):
    from models.core.db import db
    from models.orders.actions import LineIn, OrderDraft, Totals, price_lines

    admin, _glove, zone, sofa = await setup(api, make_user, capacity=2)
    shopper = await make_user()
    lines = await price_lines([LineIn(sofa, 1)], admin=False)
    ids = []
    for days in (3, 4):
        draft = OrderDraft(user_id=shopper.id, customer_id=None, customer_name="", customer_email=shopper.email,
                           lines=lines, totals=Totals(lines[0].total), delivery_zone_id=zone["id"],
                           delivery_date=utcnow().date() + dt.timedelta(days=days))
        ids.append((await orders.create_order(draft))[0])
        await orders.release_delivery(ids[-1])
    assert await orders.rebook_delivery(ids[0]) is True and await orders.rebook_delivery(ids[0]) is True
    assert await booked(zone["id"], (utcnow().date() + dt.timedelta(days=3)).isoformat()) == 1
    await orders.release_delivery(ids[0])
    await db.aio_execute_sql("UPDATE orders SET delivery_date = %s WHERE id = %s", [utcnow().date(), ids[0]])
    assert await orders.rebook_delivery(ids[0]) is False
    issue = (await fetch_one("SELECT delivery_issue, slot_held FROM orders WHERE id = %s", [ids[0]]))
    assert "had passed" in issue[0] and issue[1] is False
    assert (await api.delete(f"/api/shipping-zones/{zone['id']}/", user=admin)).status == 204
    assert await orders.rebook_delivery(ids[1]) is False
    issue = (await fetch_one("SELECT delivery_issue, delivery_date FROM orders WHERE id = %s", [ids[1]]))
    assert "no longer exists" in issue[0] and issue[1] is not None
