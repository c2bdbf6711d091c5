"""Stripe through the official SDK: PaymentIntents authorized with manual
capture, captured once the order is committed. Amounts in minor units, the
SDK's idempotency key on every write, ``STRIPE_API_BASE`` honoured (tests
point the real SDK at a local fake). The SDK's ``*_async`` methods run on
httpx: nothing blocks the event loop."""
from __future__ import annotations

from decimal import Decimal

import stripe

import settings
from models.payments.gateway import Authorization, Charge, GatewayUnavailable, minor_units

_client: stripe.StripeClient | None = None
_client_key: tuple | None = None


def client() -> stripe.StripeClient:
    global _client, _client_key
    key = (settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)
    if _client is None or _client_key != key:
        bases = {"api": settings.STRIPE_API_BASE.rstrip("/")} if settings.STRIPE_API_BASE else None
        _client = stripe.StripeClient(settings.STRIPE_SECRET_KEY or "", base_addresses=bases,
                                      http_client=stripe.HTTPXClient(timeout=20), max_network_retries=2)
        _client_key = key
    return _client


class StripeGateway:
    name = "stripe"
    hosted = False

    async def authorize(self, charge: Charge) -> Authorization:
        params: dict = {
            "amount": minor_units(charge.amount, charge.currency),
            "currency": charge.currency.lower(),
            "payment_method": charge.payment_method_id,
            "confirm": True,
            "capture_method": "manual",
            # Cards only, no redirects: the order is created in this request.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "description": charge.description,
            "metadata": charge.metadata,
        }
        if charge.customer_email:
            params["receipt_email"] = charge.customer_email
        if charge.save_card:
            params["setup_future_usage"] = "off_session"
        try:
            intent = await client().v1.payment_intents.create_async(
                params, {"idempotency_key": charge.idempotency_key})
        except stripe.CardError as exc:
            return Authorization(ok=False, message=(exc.user_message or str(exc) or "Your card was declined").rstrip("."))
        except stripe.InvalidRequestError as exc:
            return Authorization(ok=False, message=exc.user_message or "Invalid payment method")
        except stripe.StripeError as exc:
            raise GatewayUnavailable() from exc
        if intent.status not in ("requires_capture", "succeeded"):
            # 3-D Secure and other actions are not supported in this flow: release it.
            await self.void(intent.id, charge.idempotency_key + "-void")
            return Authorization(ok=False, message="Your card needs authentication that this checkout does not support")
        return Authorization(ok=True, transaction_id=intent.id, method="card",
                             reusable_reference=charge.payment_method_id if charge.save_card else None)

    async def capture(self, transaction_id: str, amount: Decimal, idempotency_key: str) -> None:
        try:
            await client().v1.payment_intents.capture_async(transaction_id, {}, {"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise GatewayUnavailable() from exc

    async def void(self, transaction_id: str, idempotency_key: str) -> None:
        try:
            await client().v1.payment_intents.cancel_async(transaction_id, {}, {"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise GatewayUnavailable() from exc

    async def refund(self, transaction_id: str, amount: Decimal, idempotency_key: str) -> None:
        try:
            await client().v1.refunds.create_async({"payment_intent": transaction_id,
                                                    "amount": minor_units(amount)},
                                                   {"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise GatewayUnavailable() from exc


def construct_event(payload: bytes, signature: str | None, tolerance: int = 300):
    """Verify ``Stripe-Signature`` on the raw body (timestamp within ``tolerance``
    seconds) and parse the event. Raises ValueError or SignatureVerificationError."""
    return stripe.Webhook.construct_event(payload, signature or "", settings.STRIPE_WEBHOOK_SECRET or "", tolerance)
