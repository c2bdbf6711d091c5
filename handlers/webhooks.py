"""Payment provider webhooks. Each verifies the provider's signature on the
raw body first (400, nothing changed, when it does not hold), then hands the
event to models.payments.actions, which processes each event id once."""
from __future__ import annotations

import logging

import orjson
import stripe

from handlers.core.base import BaseHandler
from handlers.core.fields import Out
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.core.errors import AppError
from models.payments import actions, clover, paypal
from models.payments.stripe_gateway import construct_event

log = logging.getLogger("avantlush.webhooks")

STRIPE_OUTCOMES = {
    "payment_intent.succeeded": "PAID",
    "payment_intent.payment_failed": "FAILED",
    "payment_intent.canceled": "FAILED",
    "charge.refunded": "REFUNDED",
}


class InvalidSignature(AppError):
    status = 400
    message = "Invalid webhook signature"


class WebhookOut(Out):
    received: bool
    result: str


def _json(body: bytes) -> dict:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidSignature("Invalid webhook payload") from None
    if not isinstance(data, dict):
        raise InvalidSignature("Invalid webhook payload")
    return data


class StripeWebhookHandler(BaseHandler):
    @api(response=WebhookOut, rejects={400: "a payload or signature the provider did not make"})
    async def post(self):
        """Stripe events (Stripe-Signature verified with its 5-minute tolerance)."""
        try:
            event = construct_event(self.request.body, self.request.headers.get("Stripe-Signature"))
        except (ValueError, stripe.SignatureVerificationError):
            raise InvalidSignature() from None
        raw = _json(self.request.body)  # verified above; plain dicts are easier to read than StripeObjects
        kind = str(raw.get("type", ""))
        obj = (raw.get("data") or {}).get("object") or {}
        intent = obj.get("payment_intent") if kind.startswith("charge.") else obj.get("id")
        result = await actions.apply_payment_event("stripe", event.id, kind, raw, intent, STRIPE_OUTCOMES.get(kind))
        self.reply({"received": True, "result": result})


class PayPalWebhookHandler(BaseHandler):
    @api(response=WebhookOut, rejects={400: "a payload or signature the provider did not make"})
    async def post(self):
        """PayPal events (signature verified by PayPal's verify-webhook-signature API)."""
        event = _json(self.request.body)
        headers = {k.upper(): v for k, v in self.request.headers.items()}
        if not event.get("id") or not await paypal.verify_webhook(headers, event):
            raise InvalidSignature()
        order_id, outcome = paypal.event_outcome(event)
        if outcome == "APPROVED":
            # The shopper approved: capture; PAYMENT.CAPTURE.COMPLETED then settles it.
            capture = await paypal.capture_order(order_id) if order_id else {}
            outcome = "PAID" if capture.get("status") == "COMPLETED" else None
        result = await actions.apply_payment_event("paypal", event["id"], str(event.get("event_type", "")), event,
                                                   order_id, outcome)
        self.reply({"received": True, "result": result})


class CloverWebhookHandler(BaseHandler):
    @api(response=WebhookOut, rejects={400: "a payload or signature the provider did not make"})
    async def post(self):
        """Clover hosted checkout events (Clover-Signature HMAC verified)."""
        if not clover.verify_signature(self.request.headers.get("Clover-Signature"), self.request.body):
            raise InvalidSignature()
        event = _json(self.request.body)
        session_id, outcome = clover.event_outcome(event)
        event_id = str(event.get("id") or "") or f"{session_id}:{event.get('status')}"
        result = await actions.apply_payment_event("clover", event_id, str(event.get("type", "PAYMENT")), event,
                                                   session_id, outcome)
        self.reply({"received": True, "result": result})


routes = [
    Route("/api/webhooks/stripe/", StripeWebhookHandler),
    Route("/api/webhooks/paypal/", PayPalWebhookHandler),
    Route("/api/webhooks/clover/", CloverWebhookHandler),
]
