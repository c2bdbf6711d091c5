"""Payment provider webhooks. The provider verifies its own signature on the
raw body (400, nothing changed, when it does not hold) and parses the event;
models.checkout.settle processes each event id once."""
from __future__ import annotations

from pydantic import Field

from handlers.core.base import BaseHandler
from handlers.core.fields import Out
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.checkout import settle
from models.payments import registry


class WebhookOut(Out):
    received: bool
    result: str = Field(description=(
        "applied, revived (paid after a failure, stock taken again), refunded (paid after a failure with the "
        "stock gone: refunded at once), duplicate, ignored, unknown_payment, illegal, amount_mismatch (refused: "
        "amount or currency differ from the payment; recorded)"))


class _WebhookHandler(BaseHandler):
    provider = ""

    async def _handle(self) -> None:
        gateway = registry.provider(self.provider)
        event = await gateway.parse_webhook(self.request.headers, self.request.body)
        self.reply({"received": True, "result": await settle.handle_event(gateway, event)})


REJECTS = {400: "a payload or signature the provider did not make"}


class StripeWebhookHandler(_WebhookHandler):
    provider = "stripe"

    @api(response=WebhookOut, rejects=REJECTS)
    async def post(self):
        """Stripe events (Stripe-Signature verified with its 5-minute tolerance)."""
        await self._handle()


class PayPalWebhookHandler(_WebhookHandler):
    provider = "paypal"

    @api(response=WebhookOut, rejects=REJECTS)
    async def post(self):
        """PayPal events (signature verified by PayPal's verify-webhook-signature API)."""
        await self._handle()


class CloverWebhookHandler(_WebhookHandler):
    provider = "clover"

    @api(response=WebhookOut, rejects=REJECTS)
    async def post(self):
        """Clover hosted checkout events (Clover-Signature HMAC verified)."""
        await self._handle()


routes = [
    Route("/api/webhooks/stripe/", StripeWebhookHandler),
    Route("/api/webhooks/paypal/", PayPalWebhookHandler),
    Route("/api/webhooks/clover/", CloverWebhookHandler),
]
