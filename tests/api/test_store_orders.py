"""A shopper's orders: placing them at database prices, stock taken atomically
(never oversold), their own list and detail, tracking, filter-by-date."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from tests.support.client import assert_envelope, post_order
from tests.support.factories import count, product, stock_of, variation, variation_stock


@pytest.mark.gen_test
async def test_order_from_items_takes_stock_at_database_prices(api, make_user):
    user = await make_user(full_name="Ada Buyer")
    pid = await product("Handmade Pouch", stock=10, base_price="99.99")
    resp = await post_order(api, user, [{"product_id": pid, "quantity": 2, "price": "0.01"}],
                       shipping_address="123 Main St, Lagos, Nigeria", note="Front door")
    assert resp.status == 201, resp
    body = resp.json()
    assert body["status"] == "success" and body["message"] == "Order created successfully"
    assert body["total"] == "199.98"  # the client's price is ignored
    assert body["order_number"].startswith("ORD-") and len(body["order_number"].split("-")[2]) >= 4
    assert await stock_of(pid) == 8
    assert await count("stock_movement", "product_id = %s AND change = -2 AND reason = 'order'", [pid]) == 1

    detail = (await api.get(f"/api/orders/{body['order_id']}/", user=user)).json()
    assert detail["order_number"] == body["order_number"]
    assert detail["customer_name"] == "Ada Buyer"
    assert detail["status"] == "PENDING" and detail["status_display"] == "Pending"
    assert detail["items"][0]["product_name"] == "Handmade Pouch"
    assert detail["items"][0]["unit_price"] == "99.99" and detail["items"][0]["total_price"] == "199.98"
    assert detail["payment"]["status"] == "PENDING" and detail["payment"]["amount"] == "199.98"
    assert len(detail["payments"]) == 1
    assert detail["products_display_string"] == "Handmade Pouch"
    assert detail["shipping_address"] == "123 Main St, Lagos, Nigeria"
    assert detail["created_at"].endswith("Z")
    assert "," in detail["estimated_delivery_date"]  # the spec's display date, and the same date in ISO 8601
    assert dt.datetime.strptime(detail["estimated_delivery_date"], "%A, %B %d, %Y").date().isoformat() \
        == detail["estimated_delivery_on"]


@pytest.mark.gen_test
async def test_short_line_takes_nothing_and_names_the_product(api, make_user):
    user = await make_user()
    a = await product("Plenty", stock=10)
    b = await product("Scarce Lamp", stock=1)
    resp = await post_order(api, user, [{"product_id": a, "quantity": 3}, {"product_id": b, "quantity": 2}])
    body = assert_envelope(resp, 400)
    assert "Scarce Lamp" in body["message"]
    assert await stock_of(a) == 10 and await stock_of(b) == 1
    assert await count("orders") == 0 and await count("stock_movement") == 0


@pytest.mark.gen_test
async def test_variation_line_takes_the_variation_stock(api, make_user):
    user = await make_user()
    pid = await product("Shirt", stock=0, base_price="20.00")
    vid = await variation(pid, "Red", adjustment="5.00", stock=3)
    resp = await post_order(api, user, [{"product_id": pid, "variation_id": vid, "quantity": 3}])
    assert resp.status == 201, resp
    assert resp.json()["total"] == "75.00"
    assert await variation_stock(vid) == 0
    resp = await post_order(api, user, [{"product_id": pid, "variation_id": vid, "quantity": 1}])
    assert_envelope(resp, 400)


@pytest.mark.gen_test
async def test_fifty_buyers_race_for_five_units(api, make_user):
    pid = await product("Last Few", stock=5)
    users = [await make_user() for _ in range(50)]
    responses = await asyncio.gather(*(post_order(api, u, [{"product_id": pid, "quantity": 1}]) for u in users))
    statuses = sorted(r.status for r in responses)
    assert statuses.count(201) == 5, statuses
    assert statuses.count(400) == 45, statuses
    assert await stock_of(pid) == 0
    assert await count("orders") == 5
    assert await count("stock_movement") == 5


@pytest.mark.gen_test
async def test_unknown_or_unpublished_product_is_a_field_error(api, make_user):
    user = await make_user()
    draft = await product("Hidden", status="draft")
    resp = await post_order(api, user, [{"product_id": 999999, "quantity": 1}, {"product_id": draft, "quantity": 1}])
    body = assert_envelope(resp, 400, "Validation error")
    assert set(body["errors"]) == {"items.0.product_id", "items.1.product_id"}
    resp = await post_order(api, user, [])
    assert_envelope(resp, 400)
    resp = await post_order(api, user, [{"product_id": draft, "quantity": 0}])
    assert "items.0.quantity" in assert_envelope(resp, 400)["errors"]


@pytest.mark.gen_test
async def test_order_without_items_and_no_cart_is_cart_is_empty(api, make_user):
    user = await make_user()
    resp = await api.post("/api/orders/", json={"shipping_address": "x"}, user=user)
    assert_envelope(resp, 400, "Cart is empty")


@pytest.mark.gen_test
async def test_customer_sees_only_own_orders(api, make_user):
    alice, bob = await make_user(), await make_user()
    pid = await product("Mug", stock=10)
    a = (await post_order(api, alice, [{"product_id": pid, "quantity": 1}])).json()["order_id"]
    b = (await post_order(api, bob, [{"product_id": pid, "quantity": 1}])).json()["order_id"]
    page = (await api.get("/api/orders/", user=alice)).json()
    assert page["count"] == 1 and [o["id"] for o in page["results"]] == [a]
    # user_id of someone else is ignored for a customer
    page = (await api.get("/api/orders/", params={"user_id": bob.id}, user=alice)).json()
    assert [o["id"] for o in page["results"]] == [a]
    assert_envelope(await api.get(f"/api/orders/{b}/", user=alice), 404)
    assert_envelope(await api.get(f"/api/orders/{b}/tracking/", user=alice), 404)
    assert_envelope(await api.get("/api/orders/"), 401)


@pytest.mark.gen_test
async def test_tracking_and_filter_by_date(api, make_user):
    user = await make_user()
    pid = await product("Lamp", stock=10)
    oid = (await post_order(api, user, [{"product_id": pid, "quantity": 1}])).json()["order_id"]
    events = (await api.get(f"/api/orders/{oid}/tracking/", user=user)).json()
    assert [e["status"] for e in events] == ["PENDING"]
    assert set(events[0]) == {"id", "status", "location", "description", "timestamp",
                              "shipment_id", "carrier", "tracking_number", "tracking_url"}
    import datetime as dt

    today = dt.date.today().isoformat()
    rows = (await api.get("/api/orders/filter-by-date/", params={"start_date": today, "end_date": today},
                          user=user)).json()
    assert [r["id"] for r in rows] == [oid]
    assert set(rows[0]) == {"id", "order_number", "customer_email", "customer_name", "total", "status", "created_at"}
    rows = (await api.get("/api/orders/filter-by-date/", params={"start_date": "2000-01-01", "end_date": "2000-01-02"},
                          user=user)).json()
    assert rows == []
    assert_envelope(await api.get("/api/orders/filter-by-date/", params={"start_date": "nope"}, user=user), 400)


@pytest.mark.gen_test
async def test_every_stock_change_is_a_movement_with_its_reason(api, make_user):
    admin = await make_user(is_staff=True)
    user = await make_user()
    pid = await product("Stool", stock=5)
    oid = (await post_order(api, user, [{"product_id": pid, "quantity": 2}])).json()["order_id"]
    assert (await api.patch(f"/api/products/{pid}/", json={"stock_quantity": 10}, user=admin)).status == 200
    assert (await api.patch(f"/api/orders/{oid}/update_status/", json={"status": "CANCELLED"}, user=admin)).status == 200
    from models.core.db import fetch_all

    rows = await fetch_all("SELECT change, reason, order_id FROM stock_movement WHERE product_id = %s ORDER BY id",
                           [pid])
    assert rows == [(-2, "order", oid), (7, "admin", None), (2, "cancel", oid)]
    assert await stock_of(pid) == 12
