"""Refunds go through the order's payment provider, always: PayPal (Payments
v2 captures/{id}/refund) and Clover (ecommerce POST /v1/refunds) against
local fakes of their APIs, Stripe through its SDK, the test gateway. Written
as the mistakes they stop: a refund that never reaches the provider, more
back than was captured, two refunds at once, a provider error that flips
the order anyway."""
from __future__ import annotations

import asyncio
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
from tests.support.fakes import FakeJsonApi, FakeStripe, serve


async def paid_order(user, provider: str, txn: str, *, lines=((1, "100.00"),), capture_ref: str | None = None,
                     stock: int = 10) -> tuple[int, list[int]]:
    """A PAID order of ``provider`` (lines: quantity, unit price) and its product ids."""
    pids = [await product(f"Thing {i}", stock=stock, base_price=price) for i, (_q, price) in enumerate(lines)]
    priced = await orders.price_lines([LineIn(pid, q) for pid, (q, _p) in zip(pids, lines)], admin=False)
    draft = OrderDraft(user_id=user.id, customer_id=None, customer_name="", customer_email=user.email, lines=priced,
                       totals=Totals(sum((l.total for l in priced), Decimal(0))), payment_method=provider,
                       status="PROCESSING", payment_status="PAID")
    order_id, _ = await orders.create_order(draft, PaymentDraft(provider, provider, "PAID", txn))
    if capture_ref:
        from models.core.db import db

        await db.aio_execute_sql("UPDATE payment SET capture_reference = %s WHERE order_id = %s", [capture_ref, order_id])
    return order_id, pids


async def state(order_id: int) -> tuple:
    return await fetch_one("SELECT o.status, o.payment_status, p.status, o.refunded_amount::text FROM orders o "
                           "JOIN payment p ON p.order_id = o.id WHERE o.id = %s", [order_id])


async def refund(api, admin, order_id: int, **body):
    return await api.post(f"/api/orders/{order_id}/refund/", json=body, user=admin)


class Flaky:
    """A provider answer that fails ``failures`` times (HTTP 503), then succeeds."""

    def __init__(self, ok, failures: int = 0, delay: float = 0.0) -> None:
        self.ok, self.failures, self.delay, self.calls = ok, failures, delay, []

    def __call__(self, request):
        self.calls.append((request.path, dict(request.headers), orjson.loads(request.body or b"{}")))
        if len(self.calls) <= self.failures:
            return 503, {"message": "Service Unavailable", "code": "try_later"}
        return self.ok(request)


def clover_refund_ok(request):
    body = orjson.loads(request.body)
    return 200, {"id": f"RF-{body['amount']}", "object": "refund", "charge": body["charge"], "amount": body["amount"],
                 "status": "succeeded"}


@pytest.fixture
def clover(monkeypatch):
    def make(handler):
        fake = FakeJsonApi({"v1/refunds": handler})
        server, url = serve(fake.app())
        monkeypatch.setattr(settings, "CLOVER_API_BASE", url)
        monkeypatch.setattr(settings, "CLOVER_API_KEY", "clover-key")
        monkeypatch.setattr(settings, "CLOVER_MERCHANT_ID", "MERCHANT1")
        servers.append(server)
        return fake

    servers: list = []
    yield make
    for s in servers:
        s.stop()


@pytest.mark.gen_test
async def test_refund_paypal_calls_provider(api, make_user, monkeypatch):
    def token(request):
        return 200, {"access_token": "A21", "token_type": "Bearer"}

    def refund_capture(request):
        return 201, {"id": "PP-REFUND-1", "status": "COMPLETED"}

    fake = FakeJsonApi({"v1/oauth2/token": token, "v2/payments/captures/CAP-7/refund": refund_capture})
    server, url = serve(fake.app())
    monkeypatch.setattr(settings, "PAYPAL_API_BASE", url)
    monkeypatch.setattr(settings, "PAYPAL_CLIENT_ID", "client")
    monkeypatch.setattr(settings, "PAYPAL_CLIENT_SECRET", "secret")
    try:
        admin, user = await make_user(is_staff=True), await make_user()
        order_id, _ = await paid_order(user, "paypal", "PP-ORDER-7", capture_ref="CAP-7")
        resp = await refund(api, admin, order_id, reason="damaged in transit")
    finally:
        server.stop()
    assert resp.status == 200, resp
    body = resp.json()
    assert body["payment_status"] == "REFUNDED" and body["status"] == "REFUNDED"
    assert body["provider_reference"] == "PP-REFUND-1" and body["amount"] == "100.00"
    (path, headers, raw), = [r for r in fake.requests if r[0].startswith("v2/")]
    assert path == "v2/payments/captures/CAP-7/refund"  # the capture, not the PayPal order
    assert orjson.loads(raw) == {"amount": {"value": "100.00", "currency_code": "USD"}}
    assert headers["Paypal-Request-Id"] == f"refund-{body['refund_id']}" and headers["Authorization"] == "Bearer A21"
    assert await state(order_id) == ("REFUNDED", "REFUNDED", "REFUNDED", "100.00")
    row = await fetch_one("SELECT status, provider, provider_reference, reason, amount::text FROM refund")
    assert row == ("succeeded", "paypal", "PP-REFUND-1", "damaged in transit", "100.00")


@pytest.mark.gen_test
async def test_paypal_capture_id_is_kept_from_the_approval(api, make_user, monkeypatch):
    """The capture id a refund needs comes from our own capture of the approved order."""
    from tests.payments.test_webhooks import paypal_headers, pending_order

    def token(request):
        return 200, {"access_token": "A21"}

    def verify(request):
        return 200, {"verification_status": "SUCCESS"}

    def capture(request):
        return 201, {"id": "PP-8", "status": "COMPLETED", "purchase_units": [{"payments": {"captures": [
            {"id": "CAP-8", "status": "COMPLETED", "amount": {"currency_code": "USD", "value": "100.00"}}]}}]}

    def refund_capture(request):
        return 201, {"id": "PP-R-8", "status": "COMPLETED"}

    fake = FakeJsonApi({"v1/oauth2/token": token, "v1/notifications/verify-webhook-signature": verify,
                        "v2/checkout/orders/PP-8/capture": capture, "v2/payments/captures/CAP-8/refund": refund_capture})
    server, url = serve(fake.app())
    for k, v in {"PAYPAL_API_BASE": url, "PAYPAL_CLIENT_ID": "c", "PAYPAL_CLIENT_SECRET": "s",
                 "PAYPAL_WEBHOOK_ID": "WH-1"}.items():
        monkeypatch.setattr(settings, k, v)
    try:
        admin, user = await make_user(is_staff=True), await make_user()
        order_id, _ = await pending_order(user, "paypal", "PP-8")
        body = orjson.dumps({"id": "WH-8", "event_type": "CHECKOUT.ORDER.APPROVED", "resource": {"id": "PP-8"}})
        assert (await api.post("/api/webhooks/paypal/", body=body, headers=paypal_headers("ok"))).json()["result"] \
            == "applied"
        resp = await refund(api, admin, order_id, amount="30.00")
        assert resp.status == 200 and resp.json()["payment_status"] == "PARTIALLY_REFUNDED", resp
        assert any(p == "v2/payments/captures/CAP-8/refund" for p, _h, _b in fake.requests)

        def refunded(event_id, refund_id, value):
            return orjson.dumps({"id": event_id, "event_type": "PAYMENT.CAPTURE.REFUNDED", "resource": {
                "id": refund_id, "status": "COMPLETED", "amount": {"currency_code": "USD", "value": value},
                "supplementary_data": {"related_ids": {"order_id": "PP-8"}}}})

        # PayPal's echo of our own partial refund changes nothing
        echo = await api.post("/api/webhooks/paypal/", body=refunded("WH-R1", "PP-R-8", "30.00"),
                              headers=paypal_headers("ok"))
        assert echo.json()["result"] == "ignored"
        assert await state(order_id) == ("PROCESSING", "PARTIALLY_REFUNDED", "PARTIALLY_REFUNDED", "30.00")
        # a refund made in PayPal's dashboard is recorded as such
        other = await api.post("/api/webhooks/paypal/", body=refunded("WH-R2", "PP-DASH", "70.00"),
                               headers=paypal_headers("ok"))
        assert other.json()["result"] == "applied"
        assert await state(order_id) == ("REFUNDED", "REFUNDED", "REFUNDED", "100.00")
        assert await count("refund", "provider_reference = 'PP-DASH' AND amount = 70") == 1
    finally:
        server.stop()


@pytest.mark.gen_test
async def test_refund_clover_calls_provider(api, make_user, clover):
    fake = clover(clover_refund_ok)
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, _ = await paid_order(user, "clover", "cs_paid", capture_ref="PAY-CHARGE-1")
    resp = await refund(api, admin, order_id)
    assert resp.status == 200, resp
    (path, headers, raw), = fake.requests
    assert path == "v1/refunds" and orjson.loads(raw) == {"charge": "PAY-CHARGE-1", "amount": 10000}
    assert headers["Authorization"] == "Bearer clover-key"
    assert headers["Idempotency-Key"] == f"refund-{resp.json()['refund_id']}"
    assert resp.json()["provider_reference"] == "RF-10000"
    assert await state(order_id) == ("REFUNDED", "REFUNDED", "REFUNDED", "100.00")


@pytest.mark.gen_test
async def test_clover_charge_id_is_kept_from_the_approved_event(api, make_user, clover, monkeypatch):
    from tests.payments.test_webhooks import clover_sign, pending_order

    monkeypatch.setattr(settings, "CLOVER_WEBHOOK_SECRET", "clover-secret")
    fake = clover(clover_refund_ok)
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, _ = await pending_order(user, "clover", "cs_9")
    body = orjson.dumps({"id": "CHG-9", "status": "APPROVED", "type": "PAYMENT", "data": "cs_9"})
    resp = await api.post("/api/webhooks/clover/", body=body,
                          headers={"Clover-Signature": clover_sign(body), "Content-Type": "application/json"})
    assert resp.json()["result"] == "applied"
    assert (await refund(api, admin, order_id, amount="10.00")).status == 200
    assert orjson.loads(fake.requests[0][2]) == {"charge": "CHG-9", "amount": 1000}


@pytest.mark.gen_test
async def test_partial_refund(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (lamp, chair) = await paid_order(user, "test", "txn_test_p", lines=((2, "20.00"), (1, "60.00")))
    items = {r[1]: r[0] for r in [await fetch_one("SELECT id, product_id FROM order_item WHERE order_id = %s "
                                                  "AND product_id = %s", [order_id, p]) for p in (lamp, chair)]}
    assert await stock_of(lamp) == 8
    # an amount
    resp = await refund(api, admin, order_id, amount="15.00")
    assert resp.status == 200 and resp.json()["payment_status"] == "PARTIALLY_REFUNDED", resp
    assert resp.json()["refunded_amount"] == "15.00" and resp.json()["status"] == "PROCESSING"
    assert await state(order_id) == ("PROCESSING", "PARTIALLY_REFUNDED", "PARTIALLY_REFUNDED", "15.00")
    # lines, with their stock back
    resp = await refund(api, admin, order_id, lines=[{"item_id": items[lamp], "quantity": 1}], restock=True)
    assert resp.status == 200 and resp.json()["amount"] == "20.00" and resp.json()["restocked"] is True, resp
    assert await stock_of(lamp) == 9 and await stock_of(chair) == 9
    # a line cannot be refunded twice beyond its quantity
    body = assert_envelope(await refund(api, admin, order_id, lines=[{"item_id": items[lamp], "quantity": 2}]), 400)
    assert "lines.0.quantity" in body["errors"]
    body = assert_envelope(await refund(api, admin, order_id, lines=[{"item_id": 999999, "quantity": 1}]), 400)
    assert "lines.0.item_id" in body["errors"]
    # the rest: fully refunded, out of the fulfilment flow; the remaining stock back once
    resp = await refund(api, admin, order_id, restock=True)
    assert resp.status == 200 and resp.json()["amount"] == "65.00", resp
    assert await state(order_id) == ("REFUNDED", "REFUNDED", "REFUNDED", "100.00")
    assert await stock_of(lamp) == 10 and await stock_of(chair) == 10
    assert await count("refund", "order_id = %s AND status = 'succeeded'", [order_id]) == 3
    assert_envelope(await api.patch(f"/api/orders/{order_id}/update_status/", json={"status": "SHIPPED"},
                                    user=admin), 400)


@pytest.mark.gen_test
async def test_cancelling_after_a_line_restock_gives_each_unit_back_once(api, make_user):
    """A line refunded with its stock back, then the order cancelled: the
    cancellation gives back only what the order still held."""
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (lamp, chair) = await paid_order(user, "test", "txn_test_c", lines=((2, "20.00"), (1, "60.00")))
    lamp_item = (await fetch_one("SELECT id FROM order_item WHERE order_id = %s AND product_id = %s",
                                 [order_id, lamp]))[0]
    resp = await refund(api, admin, order_id, lines=[{"item_id": lamp_item, "quantity": 1}], restock=True)
    assert resp.status == 200 and resp.json()["restocked"] is True, resp
    assert (await stock_of(lamp), await stock_of(chair)) == (9, 9)
    resp = await api.patch(f"/api/orders/{order_id}/update_status/", json={"status": "CANCELLED"}, user=admin)
    assert resp.status == 200, resp
    assert (await stock_of(lamp), await stock_of(chair)) == (10, 10)


@pytest.mark.gen_test
async def test_refund_more_than_captured_refused(api, make_user, clover):
    fake = clover(clover_refund_ok)
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, _ = await paid_order(user, "clover", "cs_m", capture_ref="CHG-M")
    for amount in ("100.01", "9999999999.99", "0", "-5"):
        assert_envelope(await refund(api, admin, order_id, amount=amount), 400)
    assert (await refund(api, admin, order_id, amount="60.00")).status == 200
    body = assert_envelope(await refund(api, admin, order_id, amount="40.01"), 400)
    assert "40.00" in body["errors"]["amount"][0]
    assert (await refund(api, admin, order_id, amount="40.00")).status == 200
    assert_envelope(await refund(api, admin, order_id, amount="0.01"), 400)
    assert_envelope(await refund(api, admin, order_id), 400)
    assert [orjson.loads(b)["amount"] for _p, _h, b in fake.requests] == [6000, 4000]
    # an unpaid order has nothing to refund
    pending = (await api.post("/api/orders/", json={"items": [{"product_id": await product("X"), "quantity": 1}]},
                              user=user)).json()["order_id"]
    assert_envelope(await refund(api, admin, pending), 400)
    assert await count("refund", "order_id = %s", [pending]) == 0


@pytest.mark.gen_test(timeout=30)
async def test_concurrent_refunds_refund_once(api, make_user, clover):
    fake = clover(clover_refund_ok)
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, _ = await paid_order(user, "clover", "cs_c", capture_ref="CHG-C")
    results = await asyncio.gather(*(refund(api, admin, order_id) for _ in range(6)))
    statuses = sorted(r.status for r in results)
    assert statuses[0] == 200 and statuses.count(200) == 1 and set(statuses[1:]) <= {400, 409}, results
    assert len(fake.requests) == 1
    assert await state(order_id) == ("REFUNDED", "REFUNDED", "REFUNDED", "100.00")
    # two partial refunds at once that together exceed it: one goes through
    order_id, _ = await paid_order(user, "clover", "cs_c2", capture_ref="CHG-C2")
    results = await asyncio.gather(*(refund(api, admin, order_id, amount="70.00") for _ in range(2)))
    assert sorted(r.status for r in results)[0] == 200 and sum(r.status == 200 for r in results) == 1, results
    assert (await state(order_id))[3] == "70.00"


@pytest.mark.gen_test
async def test_provider_refund_error_is_retryable(api, make_user, clover):
    flaky = Flaky(clover_refund_ok, failures=1)
    clover(flaky)
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, _ = await paid_order(user, "clover", "cs_e", capture_ref="CHG-E")
    body = assert_envelope(await refund(api, admin, order_id, amount="25.00"), 502)
    assert "503" in body["errors"]["refund"][0]
    # nothing flipped without the provider's OK; the failed attempt is on record
    assert await state(order_id) == ("PROCESSING", "PAID", "PAID", "0.00")
    assert await fetch_one("SELECT status, amount::text FROM refund") == ("failed", "25.00")
    assert "503" in (await fetch_one("SELECT failure_message FROM refund"))[0]
    resp = await refund(api, admin, order_id, amount="25.00")  # retried
    assert resp.status == 200, resp
    assert await state(order_id) == ("PROCESSING", "PARTIALLY_REFUNDED", "PARTIALLY_REFUNDED", "25.00")
    assert [c[2]["amount"] for c in flaky.calls] == [2500, 2500]


@pytest.mark.gen_test
async def test_refund_stripe_through_the_sdk(api, make_user, monkeypatch):
    fake = FakeStripe()
    server, url = serve(fake.app())
    monkeypatch.setattr(settings, "STRIPE_SECRET_KEY", "sk_test_fake")
    monkeypatch.setattr(settings, "STRIPE_API_BASE", url)
    try:
        admin, user = await make_user(is_staff=True), await make_user()
        order_id, _ = await paid_order(user, "stripe", "pi_42")
        resp = await refund(api, admin, order_id, amount="12.34")
    finally:
        server.stop()
    assert resp.status == 200, resp
    assert fake.refunds[0]["payment_intent"] == "pi_42" and fake.refunds[0]["amount"] == 1234
    assert resp.json()["provider_reference"] == fake.refunds[0]["id"]


@pytest.mark.gen_test
async def test_paypal_refund_without_keys_is_502_and_recorded(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, _ = await paid_order(user, "paypal", "PP-X", capture_ref="CAP-X")
    body = assert_envelope(await refund(api, admin, order_id), 502)
    assert "PAYPAL_CLIENT_ID" in body["errors"]["refund"][0]
    assert await state(order_id) == ("PROCESSING", "PAID", "PAID", "0.00")
    assert await count("refund", "status = 'failed'") == 1


def test_clover_signature_helper_still_rejects_stale_stamps(monkeypatch):
    from models.payments.providers import clover as provider

    monkeypatch.setattr(settings, "CLOVER_WEBHOOK_SECRET", "s")
    body = b"{}"
    t = int(time.time()) - 3600
    sig = hmac.new(b"s", f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert not provider.verify_signature(f"t={t},v1={sig}", body)
