"""3-D Secure ("requires_action") and saved cards, end to end over the API:
the test gateway and the real Stripe SDK against the local fake Stripe API.
A card that needs authentication leaves a PENDING order holding its stock
with what the storefront needs; the signed webhook or the confirm call
completes it (PAID once, cart emptied, one confirmation); a failed
authentication cancels it (stock back, nothing charged); the reservation's
expiry cancels an abandoned one. Saved cards: one Stripe Customer per user,
listed, used (only by their owner), deleted (detached)."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest

import settings
from models import cart
from models.checkout import payment as payments
from models.core.db import fetch_one
from models.orders import actions as orders
from tests.api.test_store_checkout import cart_lines, initiate, pay
from tests.support.factories import count, product, stock_of

SECRET = "whsec_test_3ds"


@pytest.fixture
def stripe_hooks(monkeypatch):
    monkeypatch.setattr(settings, "STRIPE_WEBHOOK_SECRET", SECRET)


async def state(order_id: int) -> tuple:
    return await fetch_one("SELECT o.status, o.payment_status, p.status FROM orders o JOIN payment p "
                           "ON p.order_id = o.id WHERE o.id = %s", [order_id])


async def ready(api, user, stock=5, qty=2, price="100.00"):
    pid = await product("Armchair", stock=stock, base_price=price)
    await cart.add_item(user.id, pid, qty)
    assert (await initiate(api, user)).status == 200
    return pid


async def webhook(api, fake, kind, intent_id, event_id=None):
    body, headers = fake.event(kind, intent_id, SECRET, event_id)
    return await api.post("/api/webhooks/stripe/", body=body, headers=headers)


# --- 3-D Secure: Stripe ------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_stripe_card_needing_authentication_awaits_it_then_the_webhook_pays_once(
        api, make_user, fake_stripe, stripe_hooks):
    user = await make_user()
    pid = await ready(api, user)
    resp = await pay(api, user, "pm_card_authenticationRequired", key="3ds-1")
    assert resp.status == 200, resp
    body = resp.json()
    assert body["status"] == "REQUIRES_ACTION" and body["amount"] == "200.00"
    intent = fake_stripe.intents[body["transaction_id"]]
    assert body["client_secret"] == intent["client_secret"]
    assert body["next_action"]["type"] == "use_stripe_sdk"
    order_id = body["order_id"]
    assert await state(order_id) == ("PENDING", "PENDING", "PENDING")
    assert await stock_of(pid) == 3  # held for the shopper
    assert await cart_lines(user) == 1  # the cart waits for the payment
    reserved = await fetch_one("SELECT reserved_until FROM orders WHERE id = %s", [order_id])
    assert reserved[0] is not None
    # A retry of the payment request with its key: the same answer, no second intent or order.
    again = await pay(api, user, "pm_card_authenticationRequired", key="3ds-1")
    assert again.json() == body and again.headers.get("Idempotent-Replayed") == "true"
    assert len(fake_stripe.intents) == 1 and await count("orders") == 1
    # The shopper authenticates in the browser; Stripe says the amount is capturable.
    fake_stripe.authenticate(intent["id"])
    resp = await webhook(api, fake_stripe, "payment_intent.amount_capturable_updated", intent["id"])
    assert resp.json() == {"received": True, "result": "applied"}
    assert intent["status"] == "succeeded"  # captured once
    assert await state(order_id) == ("PROCESSING", "PAID", "PAID")
    assert await cart_lines(user) == 0 and await stock_of(pid) == 3
    # payment_intent.succeeded follows our capture; a confirm call too: still paid once.
    resp = await webhook(api, fake_stripe, "payment_intent.succeeded", intent["id"])
    assert resp.json()["result"] == "ignored"
    confirm = await api.post("/api/checkout/payment/confirm/", json={"order_id": order_id}, user=user)
    assert confirm.status == 200 and confirm.json()["status"] == "PAID"
    captures = [r for r in fake_stripe.requests if r[1].endswith("/capture")]
    assert len(captures) == 1
    assert await count("order_tracking", "order_id = %s AND status = 'PROCESSING'", [order_id]) == 1
    assert await count("outbox_job", "task = 'tasks.orders.order_placed'") == 1


@pytest.mark.gen_test(timeout=30)
async def test_stripe_succeeded_webhook_after_authentication_pays_the_order(api, make_user, fake_stripe,
                                                                           stripe_hooks):
    user = await make_user()
    await ready(api, user)
    body = (await pay(api, user, "pm_card_authenticationRequired")).json()
    intent = fake_stripe.intents[body["transaction_id"]]
    fake_stripe.authenticate(intent["id"])
    intent["status"], intent["amount_received"] = "succeeded", intent["amount"]  # as if captured automatically
    resp = await webhook(api, fake_stripe, "payment_intent.succeeded", intent["id"], "evt_s1")
    assert resp.json()["result"] == "applied"
    assert await state(body["order_id"]) == ("PROCESSING", "PAID", "PAID")
    assert (await webhook(api, fake_stripe, "payment_intent.succeeded", intent["id"], "evt_s1")).json()["result"] \
        == "duplicate"


@pytest.mark.gen_test(timeout=30)
async def test_stripe_confirm_call_re_reads_the_intent_and_captures(api, make_user, fake_stripe):
    user = await make_user()
    await ready(api, user)
    body = (await pay(api, user, "pm_card_authenticationRequired")).json()
    order_id, intent_id = body["order_id"], body["transaction_id"]
    waiting = await api.post("/api/checkout/payment/confirm/", json={"order_id": order_id}, user=user)
    assert waiting.status == 200 and waiting.json()["status"] == "REQUIRES_ACTION"
    assert waiting.json()["client_secret"] == body["client_secret"]
    fake_stripe.authenticate(intent_id)
    # The storefront's confirm and Stripe's webhook at once: one capture, paid once.
    results = await asyncio.gather(*[api.post("/api/checkout/payment/confirm/", json={"order_id": order_id},
                                              user=user) for _ in range(3)])
    assert [r.json()["status"] for r in results] == ["PAID"] * 3
    assert fake_stripe.intents[intent_id]["status"] == "succeeded"
    assert await state(order_id) == ("PROCESSING", "PAID", "PAID")
    assert await count("order_tracking", "order_id = %s AND status = 'PROCESSING'", [order_id]) == 1
    other = await make_user()
    resp = await api.post("/api/checkout/payment/confirm/", json={"order_id": order_id}, user=other)
    assert resp.status == 404


@pytest.mark.gen_test(timeout=30)
async def test_stripe_failed_authentication_cancels_with_stock_back_and_nothing_charged(
        api, make_user, fake_stripe, stripe_hooks):
    user = await make_user()
    pid = await ready(api, user, stock=4, qty=1)
    body = (await pay(api, user, "pm_card_authenticationRequired")).json()
    assert await stock_of(pid) == 3
    fake_stripe.authenticate(body["transaction_id"], ok=False)
    resp = await webhook(api, fake_stripe, "payment_intent.payment_failed", body["transaction_id"])
    assert resp.json()["result"] == "applied"
    assert await state(body["order_id"]) == ("CANCELLED", "FAILED", "FAILED")
    assert await stock_of(pid) == 4
    assert not [r for r in fake_stripe.requests if r[1].endswith("/capture")]
    confirm = await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]}, user=user)
    assert confirm.status == 400
    assert await cart_lines(user) == 1  # the shopper can pay again with another card
    assert (await initiate(api, user)).status == 200
    again = await pay(api, user, "pm_card_visa")
    assert again.status == 200 and again.json()["status"] == "PAID"
    assert await stock_of(pid) == 3


@pytest.mark.gen_test(timeout=30)
async def test_abandoned_authentication_expires_with_the_reservation(api, make_user, fake_stripe):
    user = await make_user()
    pid = await ready(api, user, stock=2, qty=2)
    body = (await pay(api, user, "pm_card_authenticationRequired")).json()
    assert await stock_of(pid) == 0
    later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(
        minutes=settings.UNPAID_ORDER_TTL_MINUTES + 1)
    assert await orders.expire_unpaid_orders(later) == [body["order_id"]]
    assert await orders.expire_unpaid_orders(later) == []
    assert await stock_of(pid) == 2  # back once
    # The task then cancels the intent at Stripe: the shopper can no longer complete it.
    assert await payments.release_expired([body["order_id"]]) == 1
    assert await payments.release_expired([body["order_id"]]) == 0
    assert fake_stripe.intents[body["transaction_id"]]["status"] == "canceled"
    assert await state(body["order_id"]) == ("CANCELLED", "FAILED", "FAILED")
    resp = await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]}, user=user)
    assert resp.status == 400
    assert not [r for r in fake_stripe.requests if r[1].endswith("/capture")]


# --- 3-D Secure: the built-in test gateway ---------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_test_gateway_authentication_required_then_confirmed(api, make_user):
    user = await make_user()
    pid = await ready(api, user)
    body = (await pay(api, user, "pm_card_authenticationRequired")).json()
    assert body["status"] == "REQUIRES_ACTION" and body["client_secret"].endswith("_secret_test")
    assert await state(body["order_id"]) == ("PENDING", "PENDING", "PENDING")
    resp = await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]}, user=user)
    assert resp.status == 200 and resp.json()["status"] == "PAID"
    assert await state(body["order_id"]) == ("PROCESSING", "PAID", "PAID")
    assert await cart_lines(user) == 0 and await stock_of(pid) == 3
    assert (await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]},
                           user=user)).json()["status"] == "PAID"
    assert await count("order_tracking", "order_id = %s AND status = 'PROCESSING'", [body["order_id"]]) == 1


@pytest.mark.gen_test(timeout=30)
async def test_test_gateway_failed_authentication_cancels(api, make_user):
    user = await make_user()
    pid = await ready(api, user)
    body = (await pay(api, user, "pm_card_authenticationRequiredDeclined")).json()
    assert body["status"] == "REQUIRES_ACTION" and await stock_of(pid) == 3
    resp = await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]}, user=user)
    assert resp.status == 400 and resp.json()["errors"]["payment"] == ["Your card could not be authenticated"]
    assert await state(body["order_id"]) == ("CANCELLED", "FAILED", "FAILED")
    assert await stock_of(pid) == 5


# --- saved cards ---------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_saved_card_with_one_stripe_customer_listed_used_by_its_owner_only_and_deleted(
        api, make_user, fake_stripe):
    user = await make_user()
    await ready(api, user, qty=1)
    resp = await pay(api, user, "pm_card_visa", save_card=True)
    assert resp.status == 200 and resp.json()["status"] == "PAID"
    create = [r for r in fake_stripe.requests if r[1] == "payment_intents"][-1][2]
    (customer,) = fake_stripe.customers
    assert create["customer"] == customer and create["setup_future_usage"] == "off_session"
    assert await count("payment_customer", "user_id = %s AND reference = %s", [user.id, customer]) == 1
    listed = (await api.get("/api/payment-methods/", user=user)).json()
    assert len(listed) == 1
    card = listed[0]
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == ("Visa", "4242", 12, 2034)
    assert set(card) == {"id", "payment_method_id", "brand", "last4", "exp_month", "exp_year", "created_at"}
    assert fake_stripe.attached[card["payment_method_id"]] == customer
    # Paid again with the saved card: the same customer, no second one created.
    await ready(api, user, qty=1)
    resp = await pay(api, user, card["payment_method_id"], save_card=True)
    assert resp.status == 200 and resp.json()["status"] == "PAID"
    create = [r for r in fake_stripe.requests if r[1] == "payment_intents"][-1][2]
    assert create["customer"] == customer and len(fake_stripe.customers) == 1
    assert len((await api.get("/api/payment-methods/", user=user)).json()) == 1
    # Another user cannot pay with it, see it or delete it.
    thief = await make_user()
    await ready(api, thief, qty=1)
    resp = await pay(api, thief, card["payment_method_id"])
    assert resp.status == 400 and "payment_method_id" in resp.json()["errors"]
    assert (await api.get("/api/payment-methods/", user=thief)).json() == []
    assert (await api.delete(f"/api/payment-methods/{card['id']}/", user=thief)).status == 404
    # Deleted: detached at Stripe, gone from the list.
    assert (await api.delete(f"/api/payment-methods/{card['id']}/", user=user)).status == 204
    assert card["payment_method_id"] not in fake_stripe.attached
    assert (await api.get("/api/payment-methods/", user=user)).json() == []


@pytest.mark.gen_test(timeout=30)
async def test_stripe_customer_is_created_once_for_concurrent_needs(make_user, fake_stripe):
    from models.checkout import cards
    from models.payments.registry import gateway_for

    user = await make_user()
    refs = await asyncio.gather(*[cards.customer_for(user.id, gateway_for("stripe")) for _ in range(4)])
    assert len(set(refs)) == 1 and len(fake_stripe.customers) == 1
    assert await count("payment_customer", "user_id = %s", [user.id]) == 1
