"""An order's life as an attacker or a careless caller would try it: unpaid
orders that hoard stock (capped, expired, cancelled by their owner), refund
statuses typed in by staff, amounts beyond the columns, far dates, a
variation priced differently on each path, revenue from orders never paid."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest

import settings
from models.core.db import fetch_all, fetch_one, utcnow
from models.orders import actions
from tests.api.test_store_checkout import promo
from tests.support.client import assert_envelope, post_order
from tests.support.factories import count, product, stock_of, variation, variation_stock


async def order_row(order_id: int) -> tuple:
    return await fetch_one("SELECT status, payment_status, stock_held, promo_held, reserved_until FROM orders "
                           "WHERE id = %s", [order_id])


async def expire_all() -> list[int]:
    """The beat job, as if the reservations had run out (a 30-minute TTL later)."""
    return await actions.expire_unpaid_orders(utcnow() + dt.timedelta(minutes=settings.UNPAID_ORDER_TTL_MINUTES + 1))


# --- hoarding: the cap, the expiry, the owner's cancel ----------------------------------

@pytest.mark.gen_test
async def test_unverified_hoarder_is_capped(api, make_user):
    hoarder = await make_user(is_verified=False)
    pid = await product("Sofa", stock=100)
    for _ in range(settings.MAX_OPEN_UNPAID_ORDERS):
        assert (await post_order(api, hoarder, [{"product_id": pid, "quantity": 10}])).status == 201
    body = assert_envelope(await post_order(api, hoarder, [{"product_id": pid, "quantity": 10}]), 400)
    assert "unpaid orders" in body["message"] and "/cancel/" in body["message"]
    assert await stock_of(pid) == 100 - 10 * settings.MAX_OPEN_UNPAID_ORDERS
    # Concurrent attempts past the cap: none gets through.
    others = await asyncio.gather(*(post_order(api, hoarder, [{"product_id": pid, "quantity": 1}]) for _ in range(5)))
    assert {r.status for r in others} == {400}
    # Staff recording orders for that customer are not capped, and theirs never expire.
    admin = await make_user(is_staff=True)
    customer_id = (await fetch_one("SELECT id FROM customer WHERE user_id = %s", [hoarder.id]))[0]
    resp = await api.post("/api/orders/", json={"customer_id": customer_id,
                                                "items": [{"product_id": pid, "quantity": 1}]}, user=admin)
    assert resp.status == 201, resp
    assert (await order_row(resp.json()["id"]))[4] is None
    # Cancelling one frees a place.
    first = (await fetch_one("SELECT min(id) FROM orders WHERE user_id = %s", [hoarder.id]))[0]
    assert (await api.post(f"/api/orders/{first}/cancel/", user=hoarder)).status == 200
    assert (await post_order(api, hoarder, [{"product_id": pid, "quantity": 1}])).status == 201


@pytest.mark.gen_test
async def test_units_per_line_are_capped_as_in_the_cart(api, make_user):
    from models.cart.actions import MAX_QUANTITY
    from models.catalog.tables import MAX_LINE_QUANTITY

    assert MAX_QUANTITY == MAX_LINE_QUANTITY
    user = await make_user()
    pid = await product("Pin", stock=2**31 - 1, base_price="0.01")
    body = assert_envelope(await post_order(api, user, [{"product_id": pid, "quantity": MAX_LINE_QUANTITY + 1}]), 400)
    assert "items.0.quantity" in body["errors"]
    assert await count("orders") == 0


@pytest.mark.gen_test
async def test_unpaid_order_expires_and_gives_stock_back_once(api, make_user, monkeypatch):
    monkeypatch.setattr(settings, "UNPAID_ORDER_TTL_MINUTES", 0)
    user = await make_user()
    pid = await product("Lamp", stock=5)
    code = await promo("HOLD", limit=10)
    assert (await api.post("/api/cart/add-item/", json={"product_id": pid, "quantity": 2}, user=user)).status == 201
    resp = await api.post("/api/orders/", json={"promo_code": "hold"}, user=user)  # from the cart
    assert resp.status == 201, resp
    order_id = resp.json()["order_id"]
    assert await stock_of(pid) == 3
    assert (await fetch_one("SELECT times_used FROM promo_code WHERE id = %s", [code]))[0] == 1
    assert (await order_row(order_id))[3] is True

    # Two sweepers at once (two beat ticks, two workers): one cancels, the other skips.
    runs = await asyncio.gather(actions.expire_unpaid_orders(utcnow() + dt.timedelta(seconds=1)),
                                actions.expire_unpaid_orders(utcnow() + dt.timedelta(seconds=1)))
    assert sorted(sum(runs, [])) == [order_id]
    assert await expire_all() == []
    status, payment_status, held, promo_held, _ = await order_row(order_id)
    assert (status, payment_status, held, promo_held) == ("CANCELLED", "PENDING", False, False)
    assert await stock_of(pid) == 5
    assert (await fetch_one("SELECT times_used FROM promo_code WHERE id = %s", [code]))[0] == 0
    assert await count("stock_movement", "order_id = %s AND reason = 'expire' AND change = 2", [order_id]) == 1
    history = (await api.get(f"/api/orders/{order_id}/tracking/", user=user)).json()
    assert history[-1]["status"] == "CANCELLED" and "not paid within" in history[-1]["description"]
    # Cancelling it again gives nothing back twice.
    assert_envelope(await api.post(f"/api/orders/{order_id}/cancel/", user=user), 400)
    assert await stock_of(pid) == 5


@pytest.mark.gen_test
async def test_paid_orders_and_staff_orders_do_not_expire(api, make_user):
    user, admin = await make_user(), await make_user(is_staff=True)
    pid = await product("Chair", stock=10)
    paid = (await post_order(api, user, [{"product_id": pid, "quantity": 1}])).json()["order_id"]
    await api.patch(f"/api/orders/{paid}/", json={"payment_status": "PAID"}, user=admin)
    staff = (await api.post("/api/orders/", json={"items": [{"product_id": pid, "quantity": 1}]}, user=admin)).json()
    assert await expire_all() == []
    assert (await order_row(paid))[0] == "PENDING" and (await order_row(staff["id"]))[0] == "PENDING"
    assert await stock_of(pid) == 8


def test_the_sweeper_runs_every_minute():
    from celery_app import app

    [entry] = [e for e in app.conf.beat_schedule.values() if e["task"] == "tasks.orders.expire_unpaid_orders"]
    assert entry["schedule"] == 60.0


@pytest.mark.gen_test
async def test_customer_cancels_own_unpaid_order_only(api, make_user):
    ada, eve, admin = await make_user(), await make_user(), await make_user(is_staff=True)
    pid = await product("Vase", stock=3)
    order_id = (await post_order(api, ada, [{"product_id": pid, "quantity": 2}])).json()["order_id"]
    assert_envelope(await api.post(f"/api/orders/{order_id}/cancel/", user=eve), 404)
    assert_envelope(await api.post(f"/api/orders/{order_id}/cancel/"), 401)
    resp = await api.post(f"/api/orders/{order_id}/cancel/", user=ada)
    assert resp.status == 200 and resp.json()["status"] == "CANCELLED"
    assert await stock_of(pid) == 3
    assert_envelope(await api.post(f"/api/orders/{order_id}/cancel/", user=ada), 400)
    # A paid order is not the shopper's to cancel (a refund is staff's).
    paid = (await post_order(api, ada, [{"product_id": pid, "quantity": 1}])).json()["order_id"]
    await api.patch(f"/api/orders/{paid}/", json={"payment_status": "PAID"}, user=admin)
    body = assert_envelope(await api.post(f"/api/orders/{paid}/cancel/", user=ada), 400)
    assert "unpaid" in body["message"]
    assert await stock_of(pid) == 2
    assert_envelope(await api.post("/api/orders/999999/cancel/", user=ada), 404)


# --- refund statuses only through the refund action ---------------------------------------

@pytest.mark.gen_test
async def test_staff_cannot_type_in_a_refund(api, make_user):
    user, admin = await make_user(), await make_user(is_staff=True)
    pid = await product("Rug", stock=3)
    order_id = (await post_order(api, user, [{"product_id": pid, "quantity": 1}])).json()["order_id"]
    await api.patch(f"/api/orders/{order_id}/", json={"payment_status": "PAID"}, user=admin)
    for payment_status in ("REFUNDED", "PARTIALLY_REFUNDED", "refunded"):
        body = assert_envelope(await api.patch(f"/api/orders/{order_id}/", json={"payment_status": payment_status},
                                               user=admin), 400)
        assert "/api/orders/{id}/refund/" in body["message"]
        assert "payment_status" in body["errors"]
    body = assert_envelope(await api.patch(f"/api/orders/{order_id}/update_status/", json={"status": "REFUNDED"},
                                           user=admin), 400)
    assert "/refund/" in body["message"]
    resp = await api.post("/api/orders/bulk_action/", json={"order_ids": [order_id], "action": "update_status",
                                                            "status": "REFUNDED"}, user=admin)
    assert_envelope(resp, 400)
    resp = await api.post("/api/orders/", json={"items": [{"product_id": pid, "quantity": 1}],
                                                "payment_status": "REFUNDED"}, user=admin)
    assert_envelope(resp, 400)
    assert (await order_row(order_id))[:2] == ("PENDING", "PAID")


@pytest.mark.gen_test
async def test_a_refunded_order_cannot_be_shipped(api, make_user):
    user, admin = await make_user(), await make_user(is_staff=True)
    pid = await product("Bed", stock=3)
    order_id = (await post_order(api, user, [{"product_id": pid, "quantity": 1}])).json()["order_id"]
    # As the refund action leaves a fully refunded order.
    await fetch_all("UPDATE orders SET status = 'REFUNDED', payment_status = 'REFUNDED', refunded_amount = total "
                    "WHERE id = %s RETURNING id", [order_id])
    for status in ("SHIPPED", "PROCESSING", "DELIVERED"):
        assert_envelope(await api.patch(f"/api/orders/{order_id}/update_status/", json={"status": status},
                                        user=admin), 400)
    counts = (await api.get("/api/orders/status_counts/", user=admin)).json()
    assert counts["refunded"]["count"] == 1
    choices = (await api.get("/api/order-choices/", user=admin)).json()
    assert ["PARTIALLY_REFUNDED", "Partially refunded"] in choices["payment_status_choices"]
    assert ["REFUNDED", "Refunded"] in choices["status_choices"]


# --- bounds --------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_huge_quantity_is_400(api, make_user):
    user, admin = await make_user(), await make_user(is_staff=True)
    pricey = await product("Yacht", stock=20_000, base_price="9999999999.99")
    body = assert_envelope(await post_order(api, user, [{"product_id": pricey, "quantity": 2}]), 400)
    assert "items.0.quantity" in body["errors"]
    cheap = await product("Ring", stock=20_000, base_price="600000000.00")
    # Each line fits, the sum does not.
    body = assert_envelope(await post_order(api, user, [{"product_id": cheap, "quantity": 10},
                                                   {"product_id": cheap, "quantity": 10}]), 400)
    assert body["errors"]
    resp = await api.post("/api/orders/", json={"items": [{"product_id": cheap, "quantity": 10_000,
                                                           "price": "9999999999.99"}]}, user=admin)
    body = assert_envelope(resp, 400)
    assert "items.0.quantity" in body["errors"]
    assert await count("orders") == 0 and await stock_of(cheap) == 20_000


@pytest.mark.gen_test
async def test_far_end_date_is_not_500(api, make_user):
    user, admin = await make_user(), await make_user(is_staff=True)
    pid = await product("Cup", stock=5)
    order_id = (await post_order(api, user, [{"product_id": pid, "quantity": 1}])).json()["order_id"]
    far = {"start_date": "0001-01-01", "end_date": "9999-12-31"}
    body = (await api.get("/api/orders/", params=far, user=user)).json()
    assert [o["id"] for o in body["results"]] == [order_id]
    resp = await api.get("/api/orders/", params={"created_at_before": "9999-12-31"}, user=admin)
    assert resp.status == 200 and resp.json()["count"] == 1
    resp = await api.get("/api/orders/filter-by-date/", params=far, user=user)
    assert resp.status == 200 and [o["id"] for o in resp.json()] == [order_id]
    resp = await api.get("/api/orders/export/", params=far, user=admin)
    assert resp.status == 200 and resp.text.count("\n") >= 2
    resp = await api.get("/api/customers/", params={"created_at_before": "9999-12-31"}, user=admin)
    assert resp.status == 200
    for bad in ("0000-01-01", "10000-01-01", "9999-12-32", "-0001-01-01"):
        for path in ("/api/orders/", "/api/orders/filter-by-date/", "/api/orders/export/"):
            assert_envelope(await api.get(path, params={"end_date": bad}, user=admin), 400)
        assert_envelope(await api.get("/api/customers/", params={"created_at_before": bad}, user=admin), 400)
    # A staff order dated at the end of the calendar.
    resp = await api.post("/api/orders/", json={"items": [{"product_id": pid, "quantity": 1}],
                                                "order_date": "9999-12-31"}, user=admin)
    assert resp.status in (201, 400), resp


# --- one price for a variation --------------------------------------------------------------

@pytest.mark.gen_test
async def test_variation_costs_the_same_on_every_path(api, make_user):
    user = await make_user()
    pid = await product("Armchair", stock=0, base_price="100.00", discount_type="percentage", discount_value="50")
    vid = await variation(pid, "Green", adjustment="25.00", stock=10)
    page = (await api.get(f"/api/products/{pid}/")).json()
    [v] = page["variations"]
    assert v["final_price"] == 125.0  # the spec's meaning: base price + adjustment
    assert v["price"] == "75.00"  # what the customer pays
    line = (await api.post("/api/cart/add-item/", json={"product_id": pid, "variation_id": vid, "quantity": 1},
                           user=user)).json()
    cart = (await api.get("/api/cart/", user=user)).json()
    assert "75.00" in str(line) and "75.00" in str(cart)
    direct = await post_order(api, user, [{"product_id": pid, "variation_id": vid, "quantity": 1}])
    assert direct.json()["total"] == "75.00"
    from_cart = await api.post("/api/orders/", json={}, user=user)
    assert from_cart.json()["total"] == "75.00"
    assert await variation_stock(vid) == 8


@pytest.mark.gen_test
async def test_product_with_variations_is_bought_with_one_chosen(api, make_user):
    user = await make_user()
    pid = await product("Shirt", stock=10, base_price="20.00")
    await variation(pid, "Red", stock=3)
    body = assert_envelope(await post_order(api, user, [{"product_id": pid, "quantity": 1}]), 400)
    assert "items.0.variation_id" in body["errors"]
    body = assert_envelope(await api.post("/api/cart/add-item/", json={"product_id": pid, "quantity": 1},
                                          user=user), 400)
    assert "variation_id" in body["errors"]
    assert await count("cart_item") == 0 and await count("orders") == 0 and await stock_of(pid) == 10
