"""Checkout: initiate (the priced cart kept), summary, payment through the
gateway: a paid order with stock taken, promo redeemed and cart emptied in one
transaction; a decline changes nothing; 50 buyers for 5 units; Idempotency-Key."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

pytest.importorskip("models.cart")

from models import cart  # noqa: E402
from models.core.db import fetch_one  # noqa: E402
from tests.support.client import assert_envelope
from tests.support.factories import count, product, stock_of


async def shipping_method(price="4.99", days=5) -> int:
    from models.shipping import create_shipping_method

    return (await create_shipping_method({"name": "Standard Shipping", "price": Decimal(price),
                                          "estimated_days": days, "description": "3-7 days"})).id


async def promo(code="SAVE10", pct="10.00", limit=None) -> int:
    row = await fetch_one("INSERT INTO promo_code (code, discount_percentage, min_order_amount, usage_limit, "
                          "times_used, is_active, created_at, updated_at) VALUES (%s, %s, 0, %s, 0, TRUE, "
                          "timezone('utc', now()), timezone('utc', now())) RETURNING id", [code, pct, limit])
    return row[0]


async def cart_lines(user) -> int:
    return await count("cart_item ci JOIN cart c ON c.id = ci.cart_id", "c.user_id = %s", [user.id])


ADDRESS = {"full_name": "Ada Buyer", "street_address": "1 Market Street", "city": "Lagos", "state": "Lagos",
           "country": "NG", "zip_code": "100001"}


async def any_shipping_method() -> int:
    row = await fetch_one("SELECT id FROM shipping_method ORDER BY id LIMIT 1")
    return row[0] if row else await shipping_method("0.00")


async def initiate(api, user, **body):
    """Initiate with a delivery address and a shipping method unless the test gives its own."""
    defaults = {"payment_method": "stripe", "shipping_address": ADDRESS}
    if "shipping_method_id" not in body:
        defaults["shipping_method_id"] = await any_shipping_method()
    return await api.post("/api/checkout/initiate/", json={**defaults, **body}, user=user)


async def pay(api, user, pm="pm_card_visa", key=None, **extra):
    headers = {"Idempotency-Key": key} if key else None
    return await api.post("/api/checkout/payment/", json={"payment_method_id": pm, **extra}, user=user,
                          headers=headers)


@pytest.mark.gen_test(timeout=60)
async def test_browse_cart_checkout_pay_visible_to_customer_and_admin(api, make_user):
    user = await make_user(full_name="Ada Buyer")
    admin = await make_user(is_staff=True)
    pid = await product("Handmade Pouch", stock=10, base_price="99.99")
    method = await shipping_method("4.99")
    await promo("SAVE10", "10.00")
    await cart.add_item(user.id, pid, 2)
    resp = await initiate(api, user, shipping_method_id=method, promo_code="save10")
    assert resp.status == 200, resp
    body = resp.json()
    assert body["checkout_id"].startswith("checkout_")
    assert (body["subtotal"], body["discount"], body["shipping_cost"], body["tax"], body["total"]) == \
        ("199.98", "20.00", "4.99", "0.00", "184.97")
    assert body["shipping_method"] == {"id": method, "name": "Standard Shipping", "price": "4.99"}
    assert body["payment_method"] == "stripe"
    assert body["items"][0]["product_id"] == pid and body["items"][0]["price"] == "99.99"
    assert body["items"][0]["subtotal"] == "199.98" and body["items"][0]["quantity"] == 2
    summary = (await api.get("/api/checkout/summary/", user=user)).json()
    assert summary == body

    resp = await pay(api, user, save_card=True)
    assert resp.status == 200, resp
    paid = resp.json()
    assert paid["success"] is True and paid["status"] == "PAID" and paid["amount"] == "184.97"
    assert paid["order_number"].startswith("ORD-") and paid["transaction_id"]
    assert await stock_of(pid) == 8
    assert await cart_lines(user) == 0
    assert (await fetch_one("SELECT times_used FROM promo_code WHERE code = 'SAVE10'"))[0] == 1
    mine = (await api.get("/api/orders/", user=user)).json()
    assert [o["id"] for o in mine["results"]] == [paid["order_id"]]
    order = (await api.get(f"/api/orders/{paid['order_id']}/", user=admin)).json()
    assert order["status"] == "PROCESSING" and order["payment_status"] == "PAID"
    assert order["total"] == "184.97" and order["discount"] == "20.00" and order["shipping_cost"] == "4.99"
    assert order["payment"]["status"] == "PAID" and order["payment"]["transaction_id"] == paid["transaction_id"]
    assert_envelope(await api.get("/api/checkout/summary/", user=user), 404)
    assert_envelope(await pay(api, user), 404)
    # the paid order holds the promo use it redeemed: cancelling it gives the use back, once
    for _ in range(2):
        await api.patch(f"/api/orders/{paid['order_id']}/update_status/", json={"status": "CANCELLED"}, user=admin)
    assert (await fetch_one("SELECT times_used FROM promo_code WHERE code = 'SAVE10'"))[0] == 0


@pytest.mark.gen_test
async def test_declined_payment_changes_nothing_and_keeps_the_cart(api, make_user):
    user = await make_user()
    pid = await product("Lamp", stock=3, base_price="20.00")
    await promo("ONCE", "10.00", limit=1)
    await cart.add_item(user.id, pid, 1)
    assert (await initiate(api, user, promo_code="ONCE")).status == 200
    resp = await pay(api, user, "pm_card_chargeDeclined")
    body = assert_envelope(resp, 400, "Payment processing failed")
    assert body["details"] == "Your card was declined"
    assert await count("orders") == 0 and await count("payment") == 0 and await stock_of(pid) == 3
    assert await cart_lines(user) == 1
    assert (await fetch_one("SELECT times_used FROM promo_code WHERE code = 'ONCE'"))[0] == 0
    assert (await api.get("/api/checkout/summary/", user=user)).status == 200
    assert (await pay(api, user)).status == 200  # another card works


@pytest.mark.gen_test
async def test_invalid_methods_and_empty_cart(api, make_user):
    user = await make_user()
    assert_envelope(await initiate(api, user), 400, "Cart is empty")
    pid = await product("Lamp", stock=3)
    await cart.add_item(user.id, pid, 1)
    assert_envelope(await initiate(api, user, shipping_method_id=99999), 400,
                    "Invalid shipping method or payment method")
    assert_envelope(await initiate(api, user, payment_method="bitcoin"), 400)
    assert_envelope(await api.get("/api/checkout/summary/", user=user), 404)
    assert_envelope(await api.post("/api/checkout/initiate/", json={}), 401)


@pytest.mark.gen_test(timeout=120)
async def test_fifty_buyers_check_out_five_units(api, make_user):
    pid = await product("Last Few", stock=5, base_price="10.00")
    users = [await make_user() for _ in range(50)]
    for u in users:
        await cart.add_item(u.id, pid, 1)
        assert (await initiate(api, u)).status == 200
    responses = await asyncio.gather(*(pay(api, u) for u in users))
    statuses = [r.status for r in responses]
    assert statuses.count(200) == 5, statuses
    assert set(statuses) <= {200, 400}
    assert await stock_of(pid) == 0
    assert await count("orders") == 5 and await count("payment", "status = 'PAID'") == 5
    assert await count("stock_movement") == 5


@pytest.mark.gen_test(timeout=60)
async def test_payment_idempotency_key_one_order_one_charge(api, make_user):
    user = await make_user()
    pid = await product("Desk", stock=10, base_price="50.00")
    await cart.add_item(user.id, pid, 1)
    assert (await initiate(api, user)).status == 200
    responses = await asyncio.gather(*(pay(api, user, key="pay-once") for _ in range(8)))
    assert [r.status for r in responses] == [200] * 8, responses
    assert len({r.json()["order_id"] for r in responses}) == 1
    assert await count("orders") == 1 and await count("payment") == 1 and await stock_of(pid) == 9
    again = await pay(api, user, key="pay-once")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == responses[0].json()
    assert_envelope(await pay(api, user, pm="pm_card_mastercard", key="pay-once"), 422)


@pytest.mark.gen_test(timeout=60)
async def test_last_promo_use_goes_to_one_buyer(api, make_user):
    pid = await product("Chair", stock=10, base_price="100.00")
    await promo("LAST", "50.00", limit=1)
    users = [await make_user() for _ in range(4)]
    for u in users:
        await cart.add_item(u.id, pid, 1)
        assert (await initiate(api, u, promo_code="LAST")).status == 200
    responses = await asyncio.gather(*(pay(api, u) for u in users))
    assert [r.status for r in responses].count(200) == 1, responses
    assert (await fetch_one("SELECT times_used FROM promo_code WHERE code = 'LAST'"))[0] == 1
    assert await count("orders") == 1 and await stock_of(pid) == 9


@pytest.mark.gen_test
async def test_post_orders_without_items_orders_the_cart(api, make_user):
    user = await make_user()
    pid = await product("Vase", stock=4, base_price="30.00")
    await promo("TEN", "10.00", limit=5)
    await cart.add_item(user.id, pid, 3)
    await cart.apply_promo_code(user.id, "TEN")
    resp = await api.post("/api/orders/", json={"shipping_address": "1 Road", "note": "ring"}, user=user)
    assert resp.status == 201, resp
    assert resp.json()["total"] == "81.00"
    assert await stock_of(pid) == 1 and await cart_lines(user) == 0
    assert (await fetch_one("SELECT times_used FROM promo_code WHERE code = 'TEN'"))[0] == 1
    order = (await api.get(f"/api/orders/{resp.json()['order_id']}/", user=user)).json()
    assert order["discount"] == "9.00" and order["status"] == "PENDING" and order["note"] == "ring"
    assert_envelope(await api.post("/api/orders/", json={}, user=user), 400, "Cart is empty")
