"""The money path of checkout, written as the attacks it stops: a checkout
without an address or shipping method, a cart changed after the quote, a
hosted provider that fails to start, a Clover decline followed by an
approval, a webhook for another amount."""
from __future__ import annotations

import hashlib
import hmac
import logging
import time

import orjson
import pytest

pytest.importorskip("models.cart")

import settings  # noqa: E402
from models import cart  # noqa: E402
from models.core.db import db, fetch_one  # noqa: E402
from tests.support.client import assert_envelope  # noqa: E402
from tests.support.factories import count, product, stock_of  # noqa: E402
from tests.support.fakes import FakeJsonApi, serve  # noqa: E402

ADDRESS = {"full_name": "Ada Buyer", "street_address": "1 Market Street", "city": "Lagos", "state": "Lagos",
           "country": "NG", "zip_code": "100001"}


async def shipping_method(price="5.00") -> int:
    from decimal import Decimal

    from models.shipping import create_shipping_method

    return (await create_shipping_method({"name": f"Courier {price}", "price": Decimal(price),
                                          "estimated_days": 3, "description": ""})).id


async def promo(code="SAVE10", pct="10.00", limit=None) -> int:
    row = await fetch_one("INSERT INTO promo_code (code, discount_percentage, min_order_amount, usage_limit, "
                          "times_used, is_active, created_at, updated_at) VALUES (%s, %s, 0, %s, 0, TRUE, "
                          "timezone('utc', now()), timezone('utc', now())) RETURNING id", [code, pct, limit])
    return row[0]


async def times_used(code: str) -> int:
    return (await fetch_one("SELECT times_used FROM promo_code WHERE code = %s", [code]))[0]


async def cart_lines(user) -> int:
    return await count("cart_item ci JOIN cart c ON c.id = ci.cart_id", "c.user_id = %s", [user.id])


async def confirmations(order_id: int) -> int:
    return await count("outbox_job", "task = 'tasks.orders.order_placed' AND args->>0 = %s", [str(order_id)])


async def state(order_id: int) -> tuple:
    return await fetch_one("SELECT o.status, o.payment_status, p.status FROM orders o JOIN payment p "
                           "ON p.order_id = o.id WHERE o.id = %s", [order_id])


@pytest.fixture
def fake_clover(monkeypatch):
    def create(request):
        return 200, {"href": "https://checkout.example/clover/cs_1", "checkoutSessionId": "cs_1"}

    def refund(request):
        body = orjson.loads(request.body)
        return 200, {"id": "RF1", "object": "refund", "charge": body["charge"], "amount": body["amount"],
                     "status": "succeeded"}

    fake = FakeJsonApi({"invoicingcheckoutservice/v1/checkouts": create, "v1/refunds": refund})
    server, url = serve(fake.app())
    monkeypatch.setattr(settings, "CLOVER_API_BASE", url)
    monkeypatch.setattr(settings, "CLOVER_API_KEY", "clover-key")
    monkeypatch.setattr(settings, "CLOVER_MERCHANT_ID", "MERCHANT1")
    monkeypatch.setattr(settings, "CLOVER_WEBHOOK_SECRET", "clover-secret")
    yield fake
    server.stop()


def clover_sign(body: bytes, secret: str = "clover-secret") -> str:
    t = int(time.time())
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


async def clover_event(api, event: dict):
    body = orjson.dumps(event)
    return await api.post("/api/webhooks/clover/", body=body,
                          headers={"Clover-Signature": clover_sign(body), "Content-Type": "application/json"})


# --- a complete checkout ----------------------------------------------------------------

@pytest.mark.gen_test
async def test_empty_checkout_is_refused(api, make_user, fake_stripe):
    user, other = await make_user(), await make_user()
    sofa = await product("Sofa", stock=3, base_price="900.00")
    await cart.add_item(user.id, sofa, 1)
    body = assert_envelope(await api.post("/api/checkout/initiate/", json={}, user=user), 400)
    assert set(body["errors"]) == {"shipping_address", "shipping_method_id"}
    assert_envelope(await api.get("/api/checkout/summary/", user=user), 404)  # nothing kept
    method = await shipping_method("49.00")
    # someone else's saved address is not an address of this user
    theirs = (await api.post("/api/addresses/", json={**ADDRESS, "email": other.email, "phone_number": "+2348031234567"},
                             user=other)).json()["id"]
    body = assert_envelope(await api.post("/api/checkout/initiate/", json={"shipping_method_id": method,
                                                                           "address_id": theirs}, user=user), 400)
    assert "address_id" in body["errors"]
    # a country pycountry does not know; a street line without a country
    body = assert_envelope(await api.post("/api/checkout/initiate/", json={
        "shipping_method_id": method, "shipping_address": {**ADDRESS, "country": "Atlantis"}}, user=user), 400)
    assert list(body["errors"]) == ["shipping_address.country"]
    body = assert_envelope(await api.post("/api/checkout/initiate/", json={
        "shipping_method_id": method, "shipping_address": "1 Road"}, user=user), 400)
    assert "shipping_country" in body["errors"]
    # complete: the quote carries shipping and the address, and the paid order keeps both
    resp = await api.post("/api/checkout/initiate/", json={"shipping_method_id": method, "shipping_address": ADDRESS},
                          user=user)
    assert resp.status == 200, resp
    assert resp.json()["shipping_cost"] == "49.00" and resp.json()["total"] == "949.00"
    assert resp.json()["shipping_address"]["city"] == "Lagos"
    paid = await api.post("/api/checkout/payment/", json={"payment_method_id": "pm_card_visa"}, user=user)
    assert paid.status == 200, paid
    row = await fetch_one("SELECT shipping_address, shipping_country, shipping_cost, shipping_method_id FROM orders "
                          "WHERE id = %s", [paid.json()["order_id"]])
    assert row[0] == "1 Market Street" and row[1] == "NG" and str(row[2]) == "49.00" and row[3] == method


@pytest.mark.gen_test
async def test_default_address_and_digital_goods(api, make_user):
    user = await make_user()
    method = await shipping_method()
    await api.post("/api/addresses/", json={**ADDRESS, "email": user.email, "phone_number": "+2348031234567",
                                            "is_default": True}, user=user)
    lamp = await product("Lamp", stock=3, base_price="20.00")
    await cart.add_item(user.id, lamp, 1)
    resp = await api.post("/api/checkout/initiate/", json={"shipping_method_id": method}, user=user)
    assert resp.status == 200 and resp.json()["shipping_address"]["street_address"] == "1 Market Street", resp
    # an e-book needs neither an address nor a shipping method
    buyer = await make_user()
    ebook = await product("E-book", stock=100, base_price="9.99", is_physical_product=False)
    await cart.add_item(buyer.id, ebook, 1)
    resp = await api.post("/api/checkout/initiate/", json={}, user=buyer)
    assert resp.status == 200 and resp.json()["total"] == "9.99", resp


@pytest.mark.gen_test
async def test_quote_beyond_the_money_columns_is_400_before_any_provider_call(api, make_user, fake_stripe):
    user = await make_user()
    method = await shipping_method()
    big = await product("Gold bar", stock=10_000, base_price="99999999.99")
    await cart.add_item(user.id, big, 1000)
    body = assert_envelope(await api.post("/api/checkout/initiate/", json={"shipping_method_id": method,
                                                                           "shipping_address": ADDRESS}, user=user), 400)
    assert "total" in body["errors"]
    assert fake_stripe.requests == []


@pytest.mark.gen_test
async def test_changed_cart_after_initiate_is_409_and_not_charged(api, make_user, fake_stripe):
    user = await make_user()
    method = await shipping_method("0.00")
    pid = await product("Vase", stock=20, base_price="40.00")
    await cart.add_item(user.id, pid, 1)
    quoted = await api.post("/api/checkout/initiate/", json={"shipping_method_id": method, "shipping_address": ADDRESS},
                            user=user)
    assert quoted.json()["total"] == "40.00"
    await cart.update_quantity(user.id, 10, product_id=pid)  # another tab
    resp = await api.post("/api/checkout/payment/", json={"payment_method_id": "pm_card_visa"}, user=user)
    body = assert_envelope(resp, 409)
    assert "quote" in body["errors"] and body["quote"]["total"] == "400.00"
    assert body["quote"]["items"][0]["quantity"] == 10
    assert fake_stripe.requests == [] and await count("orders") == 0 and await stock_of(pid) == 20
    # a price change after the quote is caught the same way
    await db.aio_execute_sql("UPDATE product SET base_price = 45.00 WHERE id = %s", [pid])
    body = assert_envelope(await api.post("/api/checkout/payment/", json={"payment_method_id": "pm_card_visa"},
                                          user=user), 409)
    assert body["quote"]["total"] == "450.00" and fake_stripe.requests == []
    # the checkout now holds the new quote: paying again charges exactly it
    assert (await api.get("/api/checkout/summary/", user=user)).json()["total"] == "450.00"
    resp = await api.post("/api/checkout/payment/", json={"payment_method_id": "pm_card_visa"}, user=user)
    assert resp.status == 200 and resp.json()["amount"] == "450.00", resp
    assert fake_stripe.requests[0][2]["amount"] == "45000"


# --- hosted providers: nothing irreversible before the money -------------------------------

@pytest.mark.gen_test
async def test_paypal_start_failure_keeps_cart_and_promo_and_sends_no_email(api, make_user, caplog):
    # The default configuration: no PayPal keys at all.
    user = await make_user()
    method = await shipping_method()
    pid = await product("Mirror", stock=2, base_price="75.00")
    await promo("ONCE", "10.00", limit=1)
    await cart.add_item(user.id, pid, 2)
    assert (await api.post("/api/checkout/initiate/", json={"shipping_method_id": method, "shipping_address": ADDRESS,
                                                            "payment_method": "paypal", "promo_code": "ONCE"},
                           user=user)).status == 200
    with caplog.at_level(logging.WARNING, logger="avantlush.payments"):
        resp = await api.post("/api/checkout/payment/", json={}, user=user)
    body = assert_envelope(resp, 503)
    assert "PayPal" in body["message"]
    assert "PAYPAL_CLIENT_ID" in caplog.text  # the provider's reason is logged
    assert await cart_lines(user) == 1 and await times_used("ONCE") == 0
    assert await count("outbox_job", "task = 'tasks.orders.order_placed'") == 0
    assert await count("outbox_job", "task = 'tasks.orders.order_status_changed'") == 0
    assert await stock_of(pid) == 2  # the reservation went back at once
    assert await count("orders", "status = 'CANCELLED' AND payment_status = 'FAILED'") == 1
    assert await count("stock_movement", "reason = 'payment_failed' AND change > 0") == 1
    # the checkout is not dead: another way to pay works
    assert (await api.get("/api/checkout/summary/", user=user)).status == 200


@pytest.mark.gen_test
async def test_paypal_error_answer_is_logged_and_changes_nothing(api, make_user, monkeypatch, caplog):
    def token(request):
        return 200, {"access_token": "A21"}

    def create(request):
        return 422, {"name": "UNPROCESSABLE_ENTITY", "details": [{"issue": "CURRENCY_NOT_SUPPORTED"}]}

    fake = FakeJsonApi({"v1/oauth2/token": token, "v2/checkout/orders": create})
    server, url = serve(fake.app())
    monkeypatch.setattr(settings, "PAYPAL_API_BASE", url)
    monkeypatch.setattr(settings, "PAYPAL_CLIENT_ID", "client")
    monkeypatch.setattr(settings, "PAYPAL_CLIENT_SECRET", "secret")
    try:
        user = await make_user()
        pid = await product("Mirror", stock=2, base_price="75.00")
        await cart.add_item(user.id, pid, 1)
        assert (await api.post("/api/checkout/initiate/", json={"shipping_method_id": await shipping_method(),
                                                                "shipping_address": ADDRESS, "payment_method": "paypal"},
                               user=user)).status == 200
        with caplog.at_level(logging.WARNING, logger="avantlush.payments"):
            assert_envelope(await api.post("/api/checkout/payment/", json={}, user=user), 503)
    finally:
        server.stop()
    assert "CURRENCY_NOT_SUPPORTED" in caplog.text
    assert await cart_lines(user) == 1 and await stock_of(pid) == 2
    assert await count("outbox_job", "task = 'tasks.orders.order_placed'") == 0


async def start_clover(api, user, pid, qty=1, code=None):
    body = {"shipping_method_id": await shipping_method(), "shipping_address": ADDRESS, "payment_method": "clover"}
    if code:
        body["promo_code"] = code
    await cart.add_item(user.id, pid, qty)
    assert (await api.post("/api/checkout/initiate/", json=body, user=user)).status == 200
    resp = await api.post("/api/checkout/payment/", json={}, user=user)
    assert resp.status == 200 and resp.json()["status"] == "PENDING", resp
    return resp.json()


@pytest.mark.gen_test
async def test_clover_declined_then_approved_is_not_cancelled_and_paid(api, make_user, fake_clover):
    user = await make_user()
    pid = await product("Rug", stock=3, base_price="50.00")
    await promo("RUG10", "10.00", limit=5)
    started = await start_clover(api, user, pid, 2, "RUG10")
    order_id = started["order_id"]
    # waiting for the provider: stock held, but cart, promo use and confirmation wait for the money
    assert await stock_of(pid) == 1 and await cart_lines(user) == 1 and await times_used("RUG10") == 0
    assert await confirmations(order_id) == 0
    declined = await clover_event(api, {"id": "PAY-D", "status": "DECLINED", "type": "PAYMENT", "data": "cs_1"})
    assert declined.json()["result"] == "applied"
    assert await state(order_id) == ("CANCELLED", "FAILED", "FAILED") and await stock_of(pid) == 3
    # the shopper retries on Clover's page and it goes through
    approved = await clover_event(api, {"id": "PAY-A", "status": "APPROVED", "type": "PAYMENT", "data": "cs_1"})
    assert approved.json()["result"] == "revived"
    assert await state(order_id) == ("PROCESSING", "PAID", "PAID")
    assert await stock_of(pid) == 1  # taken again
    assert await cart_lines(user) == 0 and await times_used("RUG10") == 1 and await confirmations(order_id) == 1
    # a replay changes nothing
    again = await clover_event(api, {"id": "PAY-A", "status": "APPROVED", "type": "PAYMENT", "data": "cs_1"})
    assert again.json()["result"] == "duplicate" and await times_used("RUG10") == 1


@pytest.mark.gen_test
async def test_approved_after_decline_with_stock_gone_is_refunded(api, make_user, fake_clover):
    user, rival = await make_user(), await make_user()
    pid = await product("Last rug", stock=1, base_price="50.00")
    order_id = (await start_clover(api, user, pid))["order_id"]
    await clover_event(api, {"id": "PAY-D", "status": "DECLINED", "type": "PAYMENT", "data": "cs_1"})
    await cart.add_item(rival.id, pid, 1)
    assert (await api.post("/api/orders/", json={"items": [{"product_id": pid, "quantity": 1}]}, user=rival)).status == 201
    resp = await clover_event(api, {"id": "PAY-A", "status": "APPROVED", "type": "PAYMENT", "data": "cs_1"})
    assert resp.json()["result"] == "refunded"
    # never CANCELLED and PAID: the money went back through Clover
    assert await state(order_id) == ("CANCELLED", "REFUNDED", "REFUNDED")
    refunds = [orjson.loads(b) for p, _h, b in fake_clover.requests if p == "v1/refunds"]
    assert refunds == [{"charge": "PAY-A", "amount": 5000 + 500}]  # the rug and the 5.00 shipping
    assert await stock_of(pid) == 0 and await confirmations(order_id) == 0


@pytest.mark.gen_test
async def test_webhook_amount_mismatch_refused(api, make_user, fake_stripe, monkeypatch, caplog):
    monkeypatch.setattr(settings, "STRIPE_WEBHOOK_SECRET", "whsec_x")
    from models.orders import actions as orders
    from tests.payments.test_webhooks import pending_order, stripe_sign

    user = await make_user()
    order_id, _pid = await pending_order(user, "stripe", "pi_777")  # 100.00 USD
    for i, (amount, currency) in enumerate([(100, "usd"), (10000, "eur")]):
        body = orjson.dumps({"id": f"evt_m{i}", "object": "event", "type": "payment_intent.succeeded",
                             "data": {"object": {"id": "pi_777", "object": "payment_intent", "amount": amount,
                                                 "amount_received": amount, "currency": currency}}})
        with caplog.at_level(logging.WARNING, logger="avantlush.payments"):
            resp = await api.post("/api/webhooks/stripe/", body=body,
                                  headers={"Stripe-Signature": stripe_sign(body, "whsec_x"),
                                           "Content-Type": "application/json"})
        assert resp.status == 200 and resp.json()["result"] == "amount_mismatch", resp
    assert "amount 1.00 != 100.00" in caplog.text and "currency EUR != USD" in caplog.text
    assert await state(order_id) == ("PENDING", "PENDING", "PENDING")
    assert await count("webhook_event", "result = 'amount_mismatch'") == 2
    body = orjson.dumps({"id": "evt_ok", "object": "event", "type": "payment_intent.succeeded",
                         "data": {"object": {"id": "pi_777", "object": "payment_intent", "amount": 10000,
                                             "amount_received": 10000, "currency": "usd"}}})
    resp = await api.post("/api/webhooks/stripe/", body=body,
                          headers={"Stripe-Signature": stripe_sign(body, "whsec_x"), "Content-Type": "application/json"})
    assert resp.json()["result"] == "applied"
    assert await state(order_id) == ("PROCESSING", "PAID", "PAID")
    del orders


@pytest.mark.gen_test
async def test_paypal_approval_for_another_amount_is_not_captured(api, make_user, monkeypatch):
    from tests.payments.test_webhooks import paypal_headers, pending_order

    captured = []

    def token(request):
        return 200, {"access_token": "A21"}

    def verify(request):
        return 200, {"verification_status": "SUCCESS"}

    def capture(request):
        captured.append(request.path)
        return 201, {"id": "PP-9", "status": "COMPLETED"}

    fake = FakeJsonApi({"v1/oauth2/token": token, "v1/notifications/verify-webhook-signature": verify,
                        "v2/checkout/orders/PP-9/capture": capture})
    server, url = serve(fake.app())
    for k, v in {"PAYPAL_API_BASE": url, "PAYPAL_CLIENT_ID": "c", "PAYPAL_CLIENT_SECRET": "s",
                 "PAYPAL_WEBHOOK_ID": "WH-1"}.items():
        monkeypatch.setattr(settings, k, v)
    try:
        user = await make_user()
        order_id, _ = await pending_order(user, "paypal", "PP-9")
        body = orjson.dumps({"id": "WH-9", "event_type": "CHECKOUT.ORDER.APPROVED", "resource": {
            "id": "PP-9", "status": "APPROVED",
            "purchase_units": [{"amount": {"currency_code": "USD", "value": "1.00"}}]}})
        resp = await api.post("/api/webhooks/paypal/", body=body, headers=paypal_headers("good"))
    finally:
        server.stop()
    assert resp.json()["result"] == "amount_mismatch"
    assert captured == [] and await state(order_id) == ("PENDING", "PENDING", "PENDING")


# --- a late payment revives an order whose delivery date was given back --------------------

async def start_bulky_clover(api, user, day: str):
    from tests.api.test_delivery_slots import ADDRESS as US_ADDRESS

    glove = (await fetch_one("SELECT id FROM shipping_method WHERE handles_bulky"))[0]
    sofa = (await fetch_one("SELECT id FROM product WHERE is_bulky"))[0]
    await cart.add_item(user.id, sofa, 1)
    init = await api.post("/api/checkout/initiate/", json={"shipping_method_id": glove, "shipping_address": US_ADDRESS,
                                                           "delivery_date": day, "payment_method": "clover"},
                          user=user)
    assert init.status == 200, init
    resp = await api.post("/api/checkout/payment/", json={}, user=user)
    assert resp.status == 200 and resp.json()["status"] == "PENDING", resp
    return resp.json()["order_id"], sofa


@pytest.mark.gen_test(timeout=60)
async def test_late_payment_rebooks_the_delivery_date_or_flags_a_full_day_for_staff(api, make_user, fake_clover):
    import datetime as dt

    from models.core.db import utcnow
    from models.orders import actions as orders
    from tests.api.test_delivery_slots import DIRECT, booked, setup

    admin, _glove, zone, _sofa = await setup(api, make_user, capacity=1)
    user, rival = await make_user(), await make_user()
    day = (utcnow().date() + dt.timedelta(days=5)).isoformat()
    order_id, sofa = await start_bulky_clover(api, user, day)
    assert await booked(zone["id"], day) == 1
    # the shopper takes too long: the order expires and gives its day back, a rival books it
    assert await orders.expire_unpaid_orders(utcnow() + dt.timedelta(hours=2)) == [order_id]
    assert await booked(zone["id"], day) == 0
    taken = await api.post("/api/orders/", json={"items": [{"product_id": sofa, "quantity": 1}], **DIRECT,
                                                 "delivery_date": day}, user=rival)
    assert taken.status == 201, taken
    # ... then Clover says the payment went through after all
    approved = await clover_event(api, {"id": "PAY-A", "status": "APPROVED", "type": "PAYMENT", "data": "cs_1"})
    assert approved.json()["result"] == "revived"
    assert await state(order_id) == ("PROCESSING", "PAID", "PAID")
    assert await booked(zone["id"], day) == 1  # never overbooked
    detail = (await api.get(f"/api/orders/{order_id}/", user=admin)).json()
    assert detail["delivery_date"] == day and detail["slot_held"] is False
    assert "fully booked" in detail["delivery_issue"] and day in detail["delivery_issue"]
    tracking = (await api.get(f"/api/orders/{order_id}/tracking/", user=admin)).json()
    assert "could not be booked again" in tracking[-1]["description"]
    flagged = (await api.get("/api/orders/?delivery_issue=true", user=admin)).json()
    assert flagged["count"] == 1 and [o["id"] for o in flagged["results"]] == [order_id]
    others = (await api.get("/api/orders/?delivery_issue=false", user=admin)).json()
    assert order_id not in [o["id"] for o in others["results"]] and others["count"] == 1
    assert_envelope(await api.get("/api/orders/?delivery_issue=maybe", user=admin), 400)
    # staff settle it: the full day cannot be taken (409, nothing changes), another day can
    full = await api.patch(f"/api/orders/{order_id}/", json={"delivery_date": day}, user=admin)
    assert "delivery_date" in assert_envelope(full, 409)["errors"]
    for bad in (utcnow().date().isoformat(), "someday"):
        assert_envelope(await api.patch(f"/api/orders/{order_id}/", json={"delivery_date": bad}, user=admin), 400)
    assert_envelope(await api.patch(f"/api/orders/{order_id}/", json={"delivery_date": day}, user=user), 403)
    later = (utcnow().date() + dt.timedelta(days=6)).isoformat()
    moved = await api.patch(f"/api/orders/{order_id}/", json={"delivery_date": later}, user=admin)
    assert moved.status == 200, moved
    assert (moved.json()["delivery_date"], moved.json()["slot_held"], moved.json()["delivery_issue"]) == \
        (later, True, None)
    assert await booked(zone["id"], later) == 1 and await booked(zone["id"], day) == 1
    assert (await api.get("/api/orders/?delivery_issue=true", user=admin)).json()["count"] == 0
    # moving it again gives the old day back
    later2 = (utcnow().date() + dt.timedelta(days=7)).isoformat()
    assert (await api.patch(f"/api/orders/{order_id}/", json={"delivery_date": later2}, user=admin)).status == 200
    assert await booked(zone["id"], later) == 0 and await booked(zone["id"], later2) == 1
    rival_order = taken.json()["order_id"]
    await api.patch(f"/api/orders/{rival_order}/update_status/", json={"status": "CANCELLED"}, user=admin)
    refused = await api.patch(f"/api/orders/{rival_order}/", json={"delivery_date": later}, user=admin)
    assert "delivery_date" in assert_envelope(refused, 400)["errors"]
    assert await confirmations(order_id) == 1


@pytest.mark.gen_test(timeout=60)
async def test_late_payment_takes_the_delivery_date_again_when_it_is_free(api, make_user, fake_clover):
    import datetime as dt

    from models.core.db import utcnow
    from models.orders import actions as orders
    from tests.api.test_delivery_slots import booked, setup

    admin, _glove, zone, _sofa = await setup(api, make_user, capacity=1)
    user = await make_user()
    day = (utcnow().date() + dt.timedelta(days=5)).isoformat()
    order_id, _ = await start_bulky_clover(api, user, day)
    assert await orders.expire_unpaid_orders(utcnow() + dt.timedelta(hours=2)) == [order_id]
    assert await booked(zone["id"], day) == 0
    approved = await clover_event(api, {"id": "PAY-A", "status": "APPROVED", "type": "PAYMENT", "data": "cs_1"})
    assert approved.json()["result"] == "revived"
    assert await booked(zone["id"], day) == 1
    detail = (await api.get(f"/api/orders/{order_id}/", user=admin)).json()
    assert detail["slot_held"] is True and detail["delivery_issue"] is None and detail["delivery_date"] == day
    # cancelling now gives it back once more
    assert (await api.patch(f"/api/orders/{order_id}/update_status/", json={"status": "CANCELLED"},
                            user=admin)).status == 200
    assert await booked(zone["id"], day) == 0
