"""Guest checkout: an anonymous shopper's cart addressed by an opaque token
(X-Cart-Token), lines and promo code, checkout with an email and an address,
payment, a confirmation email with a signed link to the order, the order
attached to the account that registers and verifies that email, the guest cart
merged on login (quantities added, stock respected), guests' own rate limits,
and no guest reaching another's cart or order."""
from __future__ import annotations

import re

import pytest

import settings
from models.core.db import fetch_one
from models.orders import notify
from tests.api.test_store_checkout import ADDRESS, any_shipping_method, promo
from tests.support.accounts import VERIFY_LINK, link_in, login, register
from tests.support.client import assert_envelope
from tests.support.factories import count, product, stock_of
from tests.support.mail import mail_body, wait_for_mail


async def start(api) -> dict:
    resp = await api.post("/api/guest/cart/")
    assert resp.status == 201, resp
    body = resp.json()
    assert body["header"] == "X-Cart-Token" and len(body["cart_token"]) >= 40
    return {"X-Cart-Token": body["cart_token"]}


async def guest_buys(api, guest, pid, email="guest@example.com", qty=2, pm="pm_card_visa", **initiate):
    assert (await api.post("/api/cart/add-item/", json={"product_id": pid, "quantity": qty},
                           headers=guest)).status == 201
    resp = await api.post("/api/checkout/initiate/", headers=guest,
                          json={"email": email, "shipping_address": ADDRESS,
                                "shipping_method_id": await any_shipping_method(), **initiate})
    assert resp.status == 200, resp
    return await api.post("/api/checkout/payment/", json={"payment_method_id": pm}, headers=guest)


@pytest.mark.gen_test(timeout=30)
async def test_guest_cart_lines_promo_checkout_and_payment(api):
    pid = await product("Oak Stool", stock=5, base_price="50.00")
    other = await product("Lamp", stock=5, base_price="10.00")
    await promo("GUEST10", "10.00")
    guest = await start(api)
    assert (await api.post("/api/cart/add-item/", json={"product_id": pid, "quantity": 1}, headers=guest)).status == 201
    assert (await api.post("/api/cart/add-item/", json={"product_id": other, "quantity": 1},
                           headers=guest)).status == 201
    assert (await api.post("/api/cart/update-quantity/", json={"product_id": pid, "quantity": 2},
                           headers=guest)).status == 200
    assert (await api.post("/api/cart/remove-item/", json={"product_id": other}, headers=guest)).status == 204
    applied = await api.post("/api/cart/apply-discount/", json={"code": "guest10"}, headers=guest)
    assert applied.status == 200, applied
    cart = (await api.get("/api/cart/", headers=guest)).json()
    assert [i["product"] for i in cart["items"]] == [pid] and cart["items"][0]["quantity"] == 2
    # A second guest has its own, empty cart; no token is 401; a made-up token is 401.
    stranger = await start(api)
    assert (await api.get("/api/cart/", headers=stranger)).json()["items"] == []
    assert (await api.get("/api/cart/")).status == 401
    assert_envelope(await api.get("/api/cart/", headers={"X-Cart-Token": "x" * 43}), 401)
    # Checkout needs an email from a guest.
    no_email = await api.post("/api/checkout/initiate/", headers=guest,
                              json={"shipping_address": ADDRESS, "shipping_method_id": await any_shipping_method()})
    assert no_email.status == 400 and "email" in no_email.json()["errors"]
    resp = await api.post("/api/checkout/initiate/", headers=guest,
                          json={"email": "Guest@Example.com", "shipping_address": ADDRESS,
                                "shipping_method_id": await any_shipping_method(), "promo_code": "GUEST10"})
    assert resp.status == 200 and resp.json()["discount"] == "10.00"
    assert (await api.post("/api/checkout/payment/", json={"payment_method_id": "pm_card_visa", "save_card": True},
                           headers=guest)).status == 400  # guests keep no cards
    paid = await api.post("/api/checkout/payment/", json={"payment_method_id": "pm_card_visa"}, headers=guest,
                          )
    assert paid.status == 200 and paid.json()["status"] == "PAID", paid
    order = await fetch_one("SELECT customer_email, customer_id, customer_name, total::text FROM orders WHERE id = %s",
                            [paid.json()["order_id"]])
    assert order == ("guest@example.com", None, "Ada Buyer", paid.json()["amount"])
    assert await stock_of(pid) == 3
    assert (await api.get("/api/cart/", headers=guest)).json()["items"] == []
    assert await count("customer") == 0  # a guest is no registered customer
    # The signed link of its emails shows the order; nothing else does.
    ctx = await notify.order_context(paid.json()["order_id"])
    token = ctx["guest_order_url"].rsplit("/", 1)[1]
    assert ctx["guest_order_url"].startswith(settings.FRONTEND_URL)
    seen = await api.get(f"/api/guest/orders/{token}/")
    assert seen.status == 200 and seen.json()["order_number"] == paid.json()["order_number"]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert (await api.get(f"/api/guest/orders/{forged}/")).status == 404
    assert "guest@example.com" not in ctx["guest_order_url"] and "Z3Vlc3RAZXhhbXBsZS5jb2" not in token
    expired = notify.signed_link(notify.GUEST_ORDER_LINK, {"oid": paid.json()["order_id"],
                                                           "eh": notify.email_digest("guest@example.com")}, -10)
    assert (await api.get(f"/api/guest/orders/{expired}/")).status == 404


@pytest.mark.gen_test(timeout=30)
async def test_guest_three_d_secure_confirm(api):
    pid = await product("Bench", stock=3, base_price="80.00")
    guest = await start(api)
    body = (await guest_buys(api, guest, pid, qty=1, pm="pm_card_authenticationRequired")).json()
    assert body["status"] == "REQUIRES_ACTION" and await stock_of(pid) == 2
    stranger = await start(api)
    assert (await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]},
                           headers=stranger)).status == 404
    done = await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]}, headers=guest)
    assert done.status == 200 and done.json()["status"] == "PAID"


@pytest.mark.gen_test(timeout=30)
async def test_login_merges_the_guest_cart_within_stock(api, make_user):
    user = await make_user(email="shopper@example.com")
    scarce = await product("Vase", stock=3, base_price="20.00")
    plenty = await product("Candle", stock=10, base_price="5.00")
    from models import cart

    await cart.add_item(user.id, scarce, 2)
    guest = await start(api)
    for pid, qty in ((scarce, 2), (plenty, 4)):
        assert (await api.post("/api/cart/add-item/", json={"product_id": pid, "quantity": qty},
                               headers=guest)).status == 201
    resp = await api.post("/api/auth/login/", json={"email": "shopper@example.com", "password": "password123"},
                          headers=guest)
    assert resp.status == 200, resp
    lines = {i["product"]: i["quantity"] for i in (await api.get("/api/cart/", user=user)).json()["items"]}
    assert lines == {scarce: 3, plenty: 4}  # 2 + 2 capped at the 3 in stock; 4 added
    assert (await api.get("/api/cart/", headers=guest)).json()["items"] == []
    # Merging again (the same token) adds nothing.
    await api.post("/api/auth/login/", json={"email": "shopper@example.com", "password": "password123"},
                   headers=guest)
    lines = {i["product"]: i["quantity"] for i in (await api.get("/api/cart/", user=user)).json()["items"]}
    assert lines == {scarce: 3, plenty: 4}


@pytest.mark.gen_test(timeout=30)
async def test_guest_orders_attach_only_to_a_verified_account_with_that_email(api, make_user):
    pid = await product("Rug", stock=5, base_price="30.00")
    guest = await start(api)
    order_id = (await guest_buys(api, guest, pid, email="later@example.com", qty=1)).json()["order_id"]
    unverified = await make_user(email="later@example.com", is_verified=False)
    await api.post("/api/auth/login/", json={"email": "later@example.com", "password": "password123"})
    assert (await api.get("/api/orders/", user=unverified)).json()["count"] == 0
    from models.accounts.tables import User

    await User.update(is_verified=True).where(User.id == unverified.id).aio_execute()
    resp = await api.post("/api/auth/login/", json={"email": "later@example.com", "password": "password123"})
    assert resp.status == 200
    orders = (await api.get("/api/orders/", user=unverified)).json()
    assert orders["count"] == 1 and orders["results"][0]["id"] == order_id
    row = await fetch_one("SELECT o.user_id, o.customer_id, c.orders_count FROM orders o JOIN customer c "
                          "ON c.id = o.customer_id WHERE o.id = %s", [order_id])
    assert row[0] == unverified.id and row[2] == 1
    # Another verified account never gets it.
    other = await make_user(email="someone@example.com")
    assert (await api.get(f"/api/orders/{order_id}/", user=other)).status == 404


@pytest.mark.gen_test(timeout=30)
async def test_guest_carts_have_their_own_rate_limits(api, monkeypatch):
    monkeypatch.setattr(settings, "RATE_LIMIT_GUEST_START", "2/hour")
    await start(api)
    await start(api)
    resp = await api.post("/api/guest/cart/")
    assert_envelope(resp, 429)
    assert int(resp.headers["Retry-After"]) > 0
    monkeypatch.setattr(settings, "RATE_LIMIT_GUEST_START", "off")
    monkeypatch.setattr(settings, "RATE_LIMIT_GUEST", "3/minute")
    guest = await start(api)
    for _ in range(3):
        assert (await api.get("/api/cart/", headers=guest)).status == 200
    assert (await api.get("/api/cart/", headers=guest)).status == 429
    assert (await api.get("/api/cart/", headers=await start(api))).status == 200  # another guest's own bucket


@pytest.mark.gen_test(timeout=120)
async def test_guest_buys_gets_the_email_registers_and_sees_the_order(mailbox, api):
    pid = await product("Walnut Desk", stock=2, base_price="400.00")
    guest = await start(api)
    paid = await guest_buys(api, guest, pid, email="newbie@example.com", qty=1)
    assert paid.status == 200
    mails = await wait_for_mail(2)  # the confirmation and the staff notice
    confirmation = next(m for m in mails if m["To"] == "newbie@example.com")
    link = re.search(r"/guest-orders/(\S+)", mail_body(confirmation))
    assert link, mail_body(confirmation)
    seen = await api.get(f"/api/guest/orders/{link.group(1)}/")
    assert seen.status == 200 and seen.json()["id"] == paid.json()["order_id"]
    resp = await register(api, "newbie@example.com")
    assert resp.status == 201
    token = resp.json()["token"]
    mails = await wait_for_mail(3)
    verify = next(m for m in mails if m["To"] == "newbie@example.com" and "verify-email" in mail_body(m))
    path = "/api" + link_in(verify, VERIFY_LINK).group(1)
    assert (await api.post(path)).status == 200
    orders = await api.get("/api/orders/", headers={"Authorization": f"Bearer {token}"})
    assert orders.json()["count"] == 1 and orders.json()["results"][0]["id"] == paid.json()["order_id"]
    assert (await login(api, "newbie@example.com")).status == 200


@pytest.mark.gen_test(timeout=30)
async def test_old_guests_without_orders_are_pruned(api):
    import datetime as dt

    from models.checkout.guests import GUEST_RETENTION_DAYS, prune_guests
    from models.core import cleanup

    pid = await product("Shelf", stock=5, base_price="10.00")
    idle = await start(api)
    await api.post("/api/cart/add-item/", json={"product_id": pid, "quantity": 1}, headers=idle)
    buyer = await start(api)
    await guest_buys(api, buyer, pid, qty=1)
    later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(days=GUEST_RETENTION_DAYS + 1)
    assert await prune_guests(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)) == 0  # all recent
    assert await prune_guests(later) == 1  # the buyer's orders keep theirs
    assert (await api.get("/api/cart/", headers=idle)).status == 401
    assert (await api.get("/api/cart/", headers=buyer)).status == 200
    assert "guests" in cleanup._HOOKS
