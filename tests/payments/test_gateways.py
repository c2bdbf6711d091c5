"""Paying for orders through each gateway: the built-in test gateway, Stripe
through the real SDK against a local fake Stripe API, PayPal Orders v2 and
Clover hosted checkout against local fakes. A decline changes nothing; an
authorization whose order cannot be made is voided."""
from __future__ import annotations

from decimal import Decimal

import pytest

import settings
from models.checkout import payment as payments
from models.core.errors import ServiceUnavailable
from models.orders import actions as orders
from models.orders.actions import LineIn, OrderDraft, Totals
from models.orders.stock import OutOfStock
from models.payments.interface import Charge, PaymentFailed, minor_units
from models.payments.providers.stripe import StripeGateway
from models.payments.providers.test import TestGateway
from models.payments.registry import gateway_for
from tests.support.factories import count, product, stock_of
from tests.support.fakes import FakeJsonApi, serve


async def draft_for(user, product_id: int, quantity: int = 1) -> OrderDraft:
    priced = await orders.price_lines([LineIn(product_id, quantity)], admin=False)
    cid, name, email = await orders.customer_of_user(user)
    return OrderDraft(user_id=user.id, customer_id=cid, customer_name=name, customer_email=email, lines=priced,
                      totals=Totals(sum((l.total for l in priced), Decimal(0))))


def charge_of(draft: OrderDraft, pm: str | None = "pm_card_visa", key: str = "chk-1", save: bool = False) -> Charge:
    return Charge(amount=draft.totals.total, currency="USD", payment_method_id=pm, idempotency_key=key,
                  customer_email=draft.customer_email, save_card=save)


def test_minor_units_and_gateway_choice(monkeypatch):
    assert minor_units(Decimal("204.97")) == 20497 and minor_units(Decimal("0.10")) == 10
    assert minor_units(Decimal("500"), "JPY") == 500
    monkeypatch.setattr(settings, "STRIPE_SECRET_KEY", None)
    assert isinstance(gateway_for("stripe"), TestGateway)
    monkeypatch.setattr(settings, "STRIPE_SECRET_KEY", "sk_test_x")
    assert isinstance(gateway_for("stripe"), StripeGateway)
    assert gateway_for("paypal").hosted and gateway_for("clover").hosted
    with pytest.raises(Exception) as err:
        gateway_for("bitcoin")
    assert err.value.status == 400


@pytest.mark.gen_test
async def test_test_gateway_pays_and_places_a_paid_order(make_user):
    user = await make_user()
    pid = await product("Lamp", stock=3, base_price="19.99")
    draft = await draft_for(user, pid, 2)
    result = await payments.pay_and_place(draft, TestGateway(), charge_of(draft, save=True))
    assert result["status"] == "PAID" and result["amount"] == Decimal("39.98")
    assert result["transaction_id"].startswith("txn_test_")
    assert await count("orders", "status = 'PROCESSING' AND payment_status = 'PAID'") == 1
    assert await count("payment", "status = 'PAID' AND provider = 'test'") == 1
    assert await stock_of(pid) == 1
    assert await count("saved_payment_method", "user_id = %s AND reference = 'pm_card_visa'", [user.id]) == 1


@pytest.mark.gen_test
async def test_declined_card_changes_nothing(make_user):
    user = await make_user()
    pid = await product("Lamp", stock=3)
    draft = await draft_for(user, pid)
    with pytest.raises(PaymentFailed) as err:
        await payments.pay_and_place(draft, TestGateway(), charge_of(draft, "pm_card_chargeDeclined"))
    assert err.value.extra["details"] == "Your card was declined"
    assert err.value.message == "Payment processing failed"
    assert await count("orders") == 0 and await count("payment") == 0 and await count("stock_movement") == 0
    assert await stock_of(pid) == 3


@pytest.mark.gen_test
async def test_stripe_through_the_sdk_authorizes_in_minor_units_then_captures(make_user, fake_stripe):
    user = await make_user()
    pid = await product("Chair", stock=5, base_price="102.49")
    draft = await draft_for(user, pid, 2)
    result = await payments.pay_and_place(draft, gateway_for("stripe"), charge_of(draft, key="chk-42"))
    create = fake_stripe.requests[0]
    assert create[1] == "payment_intents"
    assert create[2]["amount"] == "20498" and create[2]["currency"] == "usd"
    assert create[2]["capture_method"] == "manual" and create[2]["payment_method"] == "pm_card_visa"
    assert create[3]["Idempotency-Key"] == "chk-42"
    assert create[3]["Authorization"] == "Bearer sk_test_fake"
    intent = fake_stripe.intents[result["transaction_id"]]
    assert intent["status"] == "succeeded"  # captured
    assert fake_stripe.requests[1][1] == f"payment_intents/{intent['id']}/capture"
    assert await count("payment", "provider = 'stripe' AND transaction_id = %s AND status = 'PAID'",
                       [intent["id"]]) == 1
    assert await stock_of(pid) == 3


@pytest.mark.gen_test
async def test_stripe_decline_changes_nothing(make_user, fake_stripe):
    user = await make_user()
    pid = await product("Chair", stock=5)
    draft = await draft_for(user, pid)
    with pytest.raises(PaymentFailed) as err:
        await payments.pay_and_place(draft, gateway_for("stripe"), charge_of(draft, "pm_card_chargeDeclined"))
    assert err.value.extra["details"] == "Your card was declined"
    assert await count("orders") == 0 and await stock_of(pid) == 5


@pytest.mark.gen_test
async def test_stripe_authorization_is_voided_when_stock_is_gone(make_user, fake_stripe):
    user = await make_user()
    pid = await product("Chair", stock=1)
    draft = await draft_for(user, pid, 1)
    from models.core.db import db

    await db.aio_execute_sql("UPDATE product SET stock_quantity = 0 WHERE id = %s", [pid])  # sold meanwhile
    with pytest.raises(OutOfStock):
        await payments.pay_and_place(draft, gateway_for("stripe"), charge_of(draft, key="chk-gone"))
    (intent,) = fake_stripe.intents.values()
    assert intent["status"] == "canceled"
    assert await count("orders") == 0 and await count("payment") == 0


@pytest.mark.gen_test
async def test_stripe_retry_with_one_key_is_one_intent(make_user, fake_stripe):
    user = await make_user()
    pid = await product("Chair", stock=5)
    draft = await draft_for(user, pid)
    gateway = gateway_for("stripe")
    first = await gateway.authorize(charge_of(draft, key="same"))
    second = await gateway.authorize(charge_of(draft, key="same"))
    assert first.transaction_id == second.transaction_id and len(fake_stripe.intents) == 1


@pytest.mark.gen_test
async def test_stripe_unreachable_is_503_and_changes_nothing(make_user, monkeypatch):
    monkeypatch.setattr(settings, "STRIPE_SECRET_KEY", "sk_test_fake")
    monkeypatch.setattr(settings, "STRIPE_API_BASE", "http://127.0.0.1:9")  # nothing listens
    from models.payments.providers import stripe as stripe_provider

    monkeypatch.setattr(stripe_provider, "_client", None)
    user = await make_user()
    pid = await product("Chair", stock=5)
    draft = await draft_for(user, pid)
    gw = gateway_for("stripe")
    with pytest.raises(ServiceUnavailable):
        await payments.pay_and_place(draft, gw, charge_of(draft))
    assert await count("orders") == 0 and await stock_of(pid) == 5


# --- hosted gateways ---------------------------------------------------------------

@pytest.fixture
def fake_clover(monkeypatch):
    def create(request):
        import orjson

        body = orjson.loads(request.body)
        assert request.headers["X-Clover-Merchant-Id"] == "MERCHANT1"
        return 200, {"href": "https://checkout.example/clover/abc", "checkoutSessionId": f"cs_{len(fake.requests)}",
                     "lineItems": body["shoppingCart"]["lineItems"]}

    fake = FakeJsonApi({"invoicingcheckoutservice/v1/checkouts": create})
    server, url = serve(fake.app())
    monkeypatch.setattr(settings, "CLOVER_API_BASE", url)
    monkeypatch.setattr(settings, "CLOVER_API_KEY", "clover-key")
    monkeypatch.setattr(settings, "CLOVER_MERCHANT_ID", "MERCHANT1")
    monkeypatch.setattr(settings, "CLOVER_WEBHOOK_SECRET", "clover-secret")
    yield fake
    server.stop()


@pytest.mark.gen_test
async def test_clover_hosted_checkout_holds_stock_and_waits_for_the_webhook(make_user, fake_clover):
    user = await make_user()
    pid = await product("Rug", stock=4, base_price="50.00")
    draft = await draft_for(user, pid, 2)
    result = await payments.pay_and_place(draft, gateway_for("clover"), charge_of(draft, None, key="chk-c"))
    assert result["status"] == "PENDING" and result["redirect_url"] == "https://checkout.example/clover/abc"
    path, headers, body = fake_clover.requests[0]
    assert headers["Authorization"] == "Bearer clover-key" and b'"price":5000' in body
    assert await stock_of(pid) == 2
    assert await count("orders", "status = 'PENDING' AND payment_status = 'PENDING'") == 1
    assert await count("payment", "provider = 'clover' AND transaction_id = %s", [result["transaction_id"]]) == 1


@pytest.mark.gen_test
async def test_paypal_orders_v2_creates_an_order_to_approve(make_user, monkeypatch):
    import orjson

    def token(request):
        return 200, {"access_token": "A21", "token_type": "Bearer"}

    def create(request):
        body = orjson.loads(request.body)
        assert body["intent"] == "CAPTURE"
        assert body["purchase_units"][0]["amount"] == {"currency_code": "USD", "value": "150.00"}
        assert request.headers["PayPal-Request-Id"] == "chk-p" and request.headers["Authorization"] == "Bearer A21"
        return 200, {"id": "PP-1", "status": "PAYER_ACTION_REQUIRED",
                     "links": [{"rel": "self", "href": "https://api.paypal.test/v2/checkout/orders/PP-1"},
                               {"rel": "payer-action", "href": "https://www.paypal.test/checkoutnow?token=PP-1"}]}

    fake = FakeJsonApi({"v1/oauth2/token": token, "v2/checkout/orders": create})
    server, url = serve(fake.app())
    monkeypatch.setattr(settings, "PAYPAL_API_BASE", url)
    monkeypatch.setattr(settings, "PAYPAL_CLIENT_ID", "client")
    monkeypatch.setattr(settings, "PAYPAL_CLIENT_SECRET", "secret")
    try:
        user = await make_user()
        pid = await product("Mirror", stock=2, base_price="75.00")
        draft = await draft_for(user, pid, 2)
        result = await payments.pay_and_place(draft, gateway_for("paypal"), charge_of(draft, None, key="chk-p"))
    finally:
        server.stop()
    assert result["status"] == "PENDING" and result["redirect_url"] == "https://www.paypal.test/checkoutnow?token=PP-1"
    assert await count("payment", "provider = 'paypal' AND transaction_id = 'PP-1' AND status = 'PENDING'") == 1
    assert await stock_of(pid) == 0  # held for the buyer until the webhook settles it


@pytest.mark.gen_test
async def test_hosted_provider_down_cancels_the_pending_order_and_returns_stock(make_user, monkeypatch):
    monkeypatch.setattr(settings, "CLOVER_API_BASE", "http://127.0.0.1:9")  # nothing listens
    user = await make_user()
    pid = await product("Rug", stock=3)
    draft = await draft_for(user, pid, 2)
    with pytest.raises(ServiceUnavailable):
        await payments.pay_and_place(draft, gateway_for("clover"), charge_of(draft, None, key="chk-down"))
    assert await stock_of(pid) == 3
    assert await count("orders", "status = 'CANCELLED' AND payment_status = 'FAILED'") == 1


def test_the_seam_interface_imports_no_provider_and_payments_no_other_domain():
    """interface ← providers ← registry; nothing in payments imports orders,
    cart or checkout (checkout composes them), and each provider offers the
    whole interface."""
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "models" / "payments"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module] + \
                [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        ours = [m for m in names if m.startswith("models.")]
        assert not [m for m in ours if m.split(".")[1] in ("orders", "cart", "checkout", "catalog")], (path, ours)
        if path.name == "interface.py":
            assert not [m for m in ours if "providers" in m or "registry" in m], ours
        if path.parent.name == "providers":
            assert {m for m in ours if m.startswith("models.payments")} <= {"models.payments.interface"}, (path, ours)
    from models.payments import registry

    for name in registry.PROVIDERS:
        provider = registry.provider(name)
        for method in ("refund", "parse_webhook"):
            assert callable(getattr(provider, method)), (name, method)
        wanted = ("start_hosted", "confirm") if provider.hosted else ("authorize", "capture", "void")
        assert all(callable(getattr(provider, m)) for m in wanted), name
