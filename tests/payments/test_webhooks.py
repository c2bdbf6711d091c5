"""Payment webhooks: signatures checked on the raw body (a bad one is 400 and
changes nothing), each event processed once (a replay changes nothing), and
payments and orders moved only through legal transitions."""
from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal

import orjson
import pytest

import settings
from models.core.db import fetch_one
from models.orders import actions as orders
from models.orders.actions import LineIn, OrderDraft, PaymentDraft, Totals
from tests.support.client import assert_envelope
from tests.support.factories import count, product, stock_of
from tests.support.fakes import FakeJsonApi, serve

STRIPE_SECRET = "whsec_test_secret"


async def pending_order(user, provider: str, txn: str, stock: int = 5, qty: int = 1) -> tuple[int, int]:
    pid = await product("Sofa", stock=stock, base_price="100.00")
    priced = await orders.price_lines([LineIn(pid, qty)], admin=False)
    draft = OrderDraft(user_id=user.id, customer_id=None, customer_name="", customer_email=user.email, lines=priced,
                       totals=Totals(sum((l.total for l in priced), Decimal(0))), payment_method=provider)
    order_id, _ = await orders.create_order(draft, PaymentDraft(provider, provider, "PENDING", txn))
    return order_id, pid


async def state(order_id: int) -> tuple:
    return await fetch_one("SELECT o.status, o.payment_status, p.status FROM orders o JOIN payment p "
                           "ON p.order_id = o.id WHERE o.id = %s", [order_id])


def stripe_sign(body: bytes, secret: str = STRIPE_SECRET, at: int | None = None) -> str:
    t = int(at or time.time())
    sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={sig}"


def stripe_event(event_id: str, kind: str, intent: str) -> bytes:
    obj = {"id": intent, "object": "payment_intent", "status": "succeeded"}
    if kind.startswith("charge."):
        obj = {"id": "ch_1", "object": "charge", "payment_intent": intent}
    return orjson.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": obj},
                         "api_version": "2024-06-20", "created": int(time.time())})


@pytest.fixture
def stripe_secret(monkeypatch):
    monkeypatch.setattr(settings, "STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)


async def post_stripe(api, body: bytes, signature: str):
    return await api.post("/api/webhooks/stripe/", body=body,
                          headers={"Stripe-Signature": signature, "Content-Type": "application/json"})


@pytest.mark.gen_test
async def test_stripe_succeeded_marks_paid_once(api, make_user, stripe_secret):
    user = await make_user()
    order_id, _pid = await pending_order(user, "stripe", "pi_123")
    body = stripe_event("evt_1", "payment_intent.succeeded", "pi_123")
    resp = await post_stripe(api, body, stripe_sign(body))
    assert resp.status == 200 and resp.json() == {"received": True, "result": "applied"}
    assert await state(order_id) == ("PROCESSING", "PAID", "PAID")
    resp = await post_stripe(api, body, stripe_sign(body))  # replayed
    assert resp.json()["result"] == "duplicate"
    assert await count("webhook_event", "provider = 'stripe'") == 1
    assert await count("order_tracking", "order_id = %s AND status = 'PROCESSING'", [order_id]) == 1
    # refund, then a late "succeeded" cannot move it back
    refund = stripe_event("evt_2", "charge.refunded", "pi_123")
    assert (await post_stripe(api, refund, stripe_sign(refund))).json()["result"] == "applied"
    # refunded at the provider: recorded as a refund, the order leaves the fulfilment flow
    assert await state(order_id) == ("REFUNDED", "REFUNDED", "REFUNDED")
    assert await count("refund", "order_id = %s AND status = 'succeeded' AND amount = 100", [order_id]) == 1
    late = stripe_event("evt_3", "payment_intent.succeeded", "pi_123")
    assert (await post_stripe(api, late, stripe_sign(late))).json()["result"] == "illegal"
    assert await state(order_id) == ("REFUNDED", "REFUNDED", "REFUNDED")


@pytest.mark.gen_test
async def test_stripe_bad_signature_is_400_and_changes_nothing(api, make_user, stripe_secret):
    user = await make_user()
    order_id, _pid = await pending_order(user, "stripe", "pi_9")
    body = stripe_event("evt_9", "payment_intent.succeeded", "pi_9")
    for signature in (stripe_sign(body, "whsec_wrong"), stripe_sign(body, at=time.time() - 3600), "", "t=1,v1=00"):
        assert_envelope(await post_stripe(api, body, signature), 400, "Invalid webhook signature")
    tampered = body.replace(b"pi_9", b"pi_8")
    assert_envelope(await post_stripe(api, tampered, stripe_sign(body)), 400)
    assert await state(order_id) == ("PENDING", "PENDING", "PENDING")
    assert await count("webhook_event") == 0


@pytest.mark.gen_test
async def test_stripe_failed_payment_cancels_a_pending_order_and_returns_stock(api, make_user, stripe_secret):
    user = await make_user()
    order_id, pid = await pending_order(user, "stripe", "pi_f", stock=5, qty=2)
    assert await stock_of(pid) == 3
    body = stripe_event("evt_f", "payment_intent.payment_failed", "pi_f")
    assert (await post_stripe(api, body, stripe_sign(body))).json()["result"] == "applied"
    assert await state(order_id) == ("CANCELLED", "FAILED", "FAILED")
    assert await stock_of(pid) == 5
    other = stripe_event("evt_x", "customer.created", "cus_1")
    assert (await post_stripe(api, other, stripe_sign(other))).json()["result"] == "ignored"


# --- Clover ----------------------------------------------------------------------------

def clover_sign(body: bytes, secret: str = "clover-secret", at: int | None = None) -> str:
    t = int(at or time.time())
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


@pytest.mark.gen_test
async def test_clover_webhook_verified_and_applied_once(api, make_user, monkeypatch):
    monkeypatch.setattr(settings, "CLOVER_WEBHOOK_SECRET", "clover-secret")
    user = await make_user()
    paid, _ = await pending_order(user, "clover", "cs_paid")
    declined, pid = await pending_order(user, "clover", "cs_declined")
    body = orjson.dumps({"id": "pay_1", "status": "APPROVED", "type": "PAYMENT", "data": "cs_paid",
                         "message": "Approved for 10000"})
    headers = {"Clover-Signature": clover_sign(body), "Content-Type": "application/json"}
    assert (await api.post("/api/webhooks/clover/", body=body, headers=headers)).json()["result"] == "applied"
    assert (await api.post("/api/webhooks/clover/", body=body, headers=headers)).json()["result"] == "duplicate"
    assert await state(paid) == ("PROCESSING", "PAID", "PAID")
    body = orjson.dumps({"id": "pay_2", "status": "DECLINED", "type": "PAYMENT", "data": "cs_declined"})
    bad = {"Clover-Signature": clover_sign(body, "nope"), "Content-Type": "application/json"}
    assert_envelope(await api.post("/api/webhooks/clover/", body=body, headers=bad), 400)
    assert await state(declined) == ("PENDING", "PENDING", "PENDING")
    good = {"Clover-Signature": clover_sign(body), "Content-Type": "application/json"}
    assert (await api.post("/api/webhooks/clover/", body=body, headers=good)).json()["result"] == "applied"
    assert await state(declined) == ("CANCELLED", "FAILED", "FAILED") and await stock_of(pid) == 5


# --- PayPal ------------------------------------------------------------------------------

@pytest.fixture
def fake_paypal(monkeypatch):
    def token(request):
        assert request.headers["Authorization"].startswith("Basic ")
        return 200, {"access_token": "A21", "token_type": "Bearer", "expires_in": 3600}

    def verify(request):
        body = orjson.loads(request.body)
        ok = body["transmission_sig"] == "good-sig" and body["webhook_id"] == "WH-1"
        return 200, {"verification_status": "SUCCESS" if ok else "FAILURE"}

    def capture(request):
        return 201, {"id": "PP-ORDER-1", "status": "COMPLETED"}

    fake = FakeJsonApi({"v1/oauth2/token": token, "v1/notifications/verify-webhook-signature": verify,
                        "v2/checkout/orders/PP-ORDER-1/capture": capture})
    server, url = serve(fake.app())
    monkeypatch.setattr(settings, "PAYPAL_API_BASE", url)
    monkeypatch.setattr(settings, "PAYPAL_CLIENT_ID", "client")
    monkeypatch.setattr(settings, "PAYPAL_CLIENT_SECRET", "secret")
    monkeypatch.setattr(settings, "PAYPAL_WEBHOOK_ID", "WH-1")
    yield fake
    server.stop()


def paypal_headers(sig: str) -> dict:
    return {"PAYPAL-AUTH-ALGO": "SHA256withRSA", "PAYPAL-CERT-URL": "https://api.paypal.com/cert.pem",
            "PAYPAL-TRANSMISSION-ID": "t-1", "PAYPAL-TRANSMISSION-SIG": sig,
            "PAYPAL-TRANSMISSION-TIME": "2024-01-20T10:30:00Z", "Content-Type": "application/json"}


@pytest.mark.gen_test
async def test_paypal_approval_is_captured_and_marks_paid(api, make_user, fake_paypal):
    user = await make_user()
    order_id, _ = await pending_order(user, "paypal", "PP-ORDER-1")
    body = orjson.dumps({"id": "WH-EVT-1", "event_type": "CHECKOUT.ORDER.APPROVED",
                         "resource": {"id": "PP-ORDER-1", "status": "APPROVED"}})
    assert_envelope(await api.post("/api/webhooks/paypal/", body=body, headers=paypal_headers("bad-sig")), 400)
    assert await state(order_id) == ("PENDING", "PENDING", "PENDING")
    resp = await api.post("/api/webhooks/paypal/", body=body, headers=paypal_headers("good-sig"))
    assert resp.status == 200 and resp.json()["result"] == "applied", resp
    assert await state(order_id) == ("PROCESSING", "PAID", "PAID")
    assert any(p == "v2/checkout/orders/PP-ORDER-1/capture" for p, _h, _b in fake_paypal.requests)
    done = orjson.dumps({"id": "WH-EVT-2", "event_type": "PAYMENT.CAPTURE.COMPLETED",
                         "resource": {"id": "CAP-1", "supplementary_data": {"related_ids": {"order_id": "PP-ORDER-1"}}}})
    resp = await api.post("/api/webhooks/paypal/", body=done, headers=paypal_headers("good-sig"))
    assert resp.json()["result"] == "ignored"  # already paid
