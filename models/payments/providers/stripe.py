"""Stripe through the official SDK: PaymentIntents authorized with manual
capture, captured once the order is committed; refunds; webhooks verified
with ``STRIPE_WEBHOOK_SECRET``. Amounts in minor units, the SDK's idempotency
key on every write, ``STRIPE_API_BASE`` honoured (tests point the real SDK at
a local fake). The SDK's ``*_async`` methods run on httpx: nothing blocks the
event loop."""
from __future__ import annotations

from decimal import Decimal
from typing import Mapping

import orjson
import stripe

import settings
from models.payments.interface import (
    CURRENCY,
    Authorization,
    Charge,
    GatewayUnavailable,
    InvalidWebhook,
    RefundResult,
    WebhookEvent,
    from_minor_units,
    minor_units,
)

_client: stripe.StripeClient | None = None
_client_key: tuple | None = None

OUTCOMES = {
    "payment_intent.succeeded": "PAID",
    "payment_intent.payment_failed": "FAILED",
    "payment_intent.canceled": "FAILED",
    "charge.refunded": "REFUNDED",
}
TOLERANCE_SECONDS = 300


def client() -> stripe.StripeClient:
    global _client, _client_key
    key = (settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)
    if _client is None or _client_key != key:
        bases = {"api": settings.STRIPE_API_BASE.rstrip("/")} if settings.STRIPE_API_BASE else None
        _client = stripe.StripeClient(settings.STRIPE_SECRET_KEY or "", base_addresses=bases,
                                      http_client=stripe.HTTPXClient(timeout=20), max_network_retries=2)
        _client_key = key
    return _client


def _reason(exc: stripe.StripeError) -> str:
    return f"stripe: {exc.user_message or str(exc) or type(exc).__name__}"


class StripeGateway:
    name = "stripe"
    label = "Card"
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
            raise GatewayUnavailable(_reason(exc)) from exc
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
            raise GatewayUnavailable(_reason(exc)) from exc

    async def void(self, transaction_id: str, idempotency_key: str) -> None:
        try:
            await client().v1.payment_intents.cancel_async(transaction_id, {}, {"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise GatewayUnavailable(_reason(exc)) from exc

    async def refund(self, transaction_id: str, amount: Decimal, idempotency_key: str,
                     currency: str = CURRENCY) -> RefundResult:
        try:
            refund = await client().v1.refunds.create_async(
                {"payment_intent": transaction_id, "amount": minor_units(amount, currency)},
                {"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise GatewayUnavailable(_reason(exc)) from exc
        if refund.status in ("failed", "canceled"):
            raise GatewayUnavailable(f"stripe: refund {refund.id} {refund.status}")
        return RefundResult(reference=refund.id, status=refund.status or "succeeded")

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """``Stripe-Signature`` verified on the raw body (timestamp within five minutes)."""
        try:
            event = stripe.Webhook.construct_event(body, headers.get("Stripe-Signature") or "",
                                                   settings.STRIPE_WEBHOOK_SECRET or "", TOLERANCE_SECONDS)
        except (ValueError, stripe.SignatureVerificationError):
            raise InvalidWebhook() from None
        raw = orjson.loads(body)  # verified above; plain dicts are easier to read than StripeObjects
        if not isinstance(raw, dict):
            raise InvalidWebhook("Invalid webhook payload")
        kind = str(raw.get("type", ""))
        obj = (raw.get("data") or {}).get("object") or {}
        intent = obj.get("payment_intent") if kind.startswith("charge.") else obj.get("id")
        currency = str(obj["currency"]).upper() if obj.get("currency") else None
        amount = None
        # What moved: the captured amount of a success, the total refunded so far of a refund.
        minor = {"payment_intent.succeeded": obj.get("amount_received", obj.get("amount")),
                 "charge.refunded": obj.get("amount_refunded")}.get(kind)
        if isinstance(minor, int):
            amount = from_minor_units(minor, currency or CURRENCY)
        return WebhookEvent(provider="stripe", event_id=event.id, kind=kind, transaction_id=intent,
                            outcome=OUTCOMES.get(kind), payload=raw, amount=amount, currency=currency)
