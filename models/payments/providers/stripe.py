"""Stripe through the official SDK: PaymentIntents authorized with manual
capture, captured once the order is committed; refunds; webhooks verified
with ``STRIPE_WEBHOOK_SECRET``. Amounts in minor units, the SDK's idempotency
key on every write, ``STRIPE_API_BASE`` honoured (tests point the real SDK at
a local fake). The SDK's ``*_async`` methods run on httpx: nothing blocks the
event loop.

3-D Secure ("finalize payments on the server"): a PaymentIntent that answers
``requires_action`` is kept and answered as a ``CustomerAction``
(``client_secret``, ``next_action``); after the shopper authenticates it is
``requires_capture`` (webhook ``payment_intent.amount_capturable_updated`` →
APPROVED, or ``check`` re-reads it) and ``confirm`` captures it
(``payment_intent.succeeded`` follows). Saved cards: one Customer per user
(``ensure_customer``), ``setup_future_usage=off_session`` when saving,
``detach`` on delete. A ``return_url`` from the storefront is the
PaymentIntent's: a ``redirect_to_url`` next action brings the shopper back
there (Stripe adds ``payment_intent``, ``payment_intent_client_secret`` and
``redirect_status`` to it)."""
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
    CustomerAction,
    GatewayUnavailable,
    InvalidWebhook,
    RefundResult,
    WebhookEvent,
    from_minor_units,
    minor_units,
    next_action_of,
)

_client: stripe.StripeClient | None = None
_client_key: tuple | None = None

OUTCOMES = {
    "payment_intent.amount_capturable_updated": "APPROVED",  # authenticated, to be captured
    "payment_intent.succeeded": "PAID",
    "payment_intent.payment_failed": "FAILED",
    "payment_intent.canceled": "FAILED",
    "charge.refunded": "REFUNDED",
}
TOLERANCE_SECONDS = 300
# A PaymentIntent's state, re-read by ``check``, in neutral terms (None: still waiting).
STATES = {"requires_capture": "APPROVED", "succeeded": "PAID", "requires_payment_method": "FAILED",
          "canceled": "FAILED"}


def client() -> stripe.StripeClient:
    global _client, _client_key
    key = (settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)
    if _client is None or _client_key != key:
        bases = {"api": settings.STRIPE_API_BASE.rstrip("/")} if settings.STRIPE_API_BASE else None
        _client = stripe.StripeClient(settings.STRIPE_SECRET_KEY or "", base_addresses=bases,
                                      http_client=stripe.HTTPXClient(timeout=20), max_network_retries=2)
        _client_key = key
    return _client


def _card(intent: dict) -> dict:
    """Brand, last4 and expiry of the intent's (expanded) card: all that is kept of it."""
    pm = intent.get("payment_method")
    card = pm.get("card") if isinstance(pm, dict) else None
    if not card:
        return {}
    return {"brand": str(card.get("brand") or "").capitalize(), "last4": str(card.get("last4") or ""),
            "exp_month": card.get("exp_month"), "exp_year": card.get("exp_year")}


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
            # Cards (3-D Secure through Stripe.js's handleNextAction), no redirects unless the
            # storefront gave a return_url (then 3-D Secure may answer redirect_to_url).
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "description": charge.description,
            "metadata": charge.metadata,
            "expand": ["payment_method"],
        }
        if charge.customer_email:
            params["receipt_email"] = charge.customer_email
        if charge.customer_reference:
            params["customer"] = charge.customer_reference
        if charge.save_card:
            params["setup_future_usage"] = "off_session"
        if charge.return_url:
            params["return_url"] = charge.return_url
            params["automatic_payment_methods"] = {"enabled": True}  # redirects allowed: they come back there
        try:
            intent = await client().v1.payment_intents.create_async(
                params, {"idempotency_key": charge.idempotency_key})
        except stripe.CardError as exc:
            return Authorization(ok=False, message=(exc.user_message or str(exc) or "Your card was declined").rstrip("."))
        except stripe.InvalidRequestError as exc:
            return Authorization(ok=False, message=exc.user_message or "Invalid payment method")
        except stripe.StripeError as exc:
            raise GatewayUnavailable(_reason(exc)) from exc
        raw = intent.to_dict()
        card = _card(raw)
        method = raw.get("payment_method")
        # The PaymentMethod made of the token (a test token such as pm_card_visa makes a new one each time).
        made = method.get("id") if isinstance(method, dict) else method
        saved = (made or charge.payment_method_id) if charge.save_card else None
        if intent.status == "requires_action":
            action = raw.get("next_action")
            return Authorization(ok=True, transaction_id=intent.id, method="card", reusable_reference=saved, **card,
                                 action=CustomerAction(client_secret=raw.get("client_secret") or "",
                                                       next_action=next_action_of(action) or {}))
        if intent.status not in ("requires_capture", "succeeded"):
            await self.void(intent.id, charge.idempotency_key + "-void")
            error = raw.get("last_payment_error")
            return Authorization(ok=False, message=(error and error.get("message")) or "Your card was declined")
        return Authorization(ok=True, transaction_id=intent.id, method="card", reusable_reference=saved, **card)

    async def check(self, transaction_id: str) -> WebhookEvent:
        """Re-read the PaymentIntent (the confirm call after the shopper's authentication)."""
        try:
            intent = await client().v1.payment_intents.retrieve_async(transaction_id)
        except stripe.StripeError as exc:
            raise GatewayUnavailable(_reason(exc)) from exc
        raw = intent.to_dict()
        outcome = STATES.get(raw.get("status", ""))
        minor = raw.get("amount_received") if outcome == "PAID" else raw.get("amount")
        currency = str(raw["currency"]).upper() if raw.get("currency") else None
        return WebhookEvent(provider=self.name, event_id=f"check:{intent.id}:{raw.get('status')}",
                            kind=f"check.{raw.get('status')}", transaction_id=intent.id, outcome=outcome, payload=raw,
                            amount=from_minor_units(minor, currency or CURRENCY) if isinstance(minor, int) else None,
                            currency=currency)

    async def confirm(self, event: WebhookEvent) -> WebhookEvent:
        """Capture an authenticated PaymentIntent (one capture however many
        events and confirm calls ask: one idempotency key, and an intent
        already captured counts as paid)."""
        assert event.transaction_id
        try:
            await client().v1.payment_intents.capture_async(event.transaction_id, {},
                                                            {"idempotency_key": f"{event.transaction_id}-capture"})
        except stripe.InvalidRequestError as exc:
            state = await self.check(event.transaction_id)
            if state.outcome != "PAID":
                raise GatewayUnavailable(_reason(exc)) from exc
        except stripe.StripeError as exc:
            raise GatewayUnavailable(_reason(exc)) from exc
        event.outcome = "PAID"
        return event

    async def ensure_customer(self, user_key: str, email: str) -> str:
        try:
            customer = await client().v1.customers.create_async(
                {"email": email, "metadata": {"user": user_key}}, {"idempotency_key": f"customer-{user_key}"})
        except stripe.StripeError as exc:
            raise GatewayUnavailable(_reason(exc)) from exc
        return customer.id

    async def detach(self, reference: str) -> None:
        try:
            await client().v1.payment_methods.detach_async(reference)
        except stripe.InvalidRequestError:
            return None  # already detached or gone at Stripe: nothing left to use
        except stripe.StripeError as exc:
            raise GatewayUnavailable(_reason(exc)) from exc

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
                 "payment_intent.amount_capturable_updated": obj.get("amount_capturable", obj.get("amount")),
                 "charge.refunded": obj.get("amount_refunded")}.get(kind)
        if isinstance(minor, int):
            amount = from_minor_units(minor, currency or CURRENCY)
        return WebhookEvent(provider="stripe", event_id=event.id, kind=kind, transaction_id=intent,
                            outcome=OUTCOMES.get(kind), payload=raw, amount=amount, currency=currency)
