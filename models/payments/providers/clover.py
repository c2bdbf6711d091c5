"""Clover hosted checkout (httpx async): a checkout session is created and the
shopper is sent to its page; Clover's webhook (status APPROVED or DECLINED,
``data`` = the checkout session id, ``id`` = the payment, i.e. the charge a
refund names) settles the payment. Refunds: Ecommerce API ``POST
/v1/refunds`` with the charge id and an amount in cents. Webhooks carry
``Clover-Signature: t=<unix time>,v1=<hex>`` where v1 is HMAC-SHA256 of
``"<t>.<raw body>"`` with ``CLOVER_WEBHOOK_SECRET``. Without
``CLOVER_API_KEY``/``CLOVER_MERCHANT_ID`` nothing is sent: 503."""
from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal
from typing import Any, Mapping

import httpx
import orjson

import settings
from models.payments.interface import (
    CURRENCY,
    Charge,
    GatewayUnavailable,
    HostedSession,
    InvalidWebhook,
    RefundResult,
    WebhookEvent,
    from_minor_units,
    minor_units,
)

TIMEOUT = 20
TOLERANCE_SECONDS = 300


def _configured() -> None:
    if not (settings.CLOVER_API_KEY and settings.CLOVER_MERCHANT_ID):
        raise GatewayUnavailable("clover: CLOVER_API_KEY / CLOVER_MERCHANT_ID are not set",
                                 "Clover is not available; please choose another payment method.")


async def _post(path: str, body: dict, idempotency_key: str) -> dict:
    _configured()
    headers = {"Authorization": f"Bearer {settings.CLOVER_API_KEY}",
               "X-Clover-Merchant-Id": settings.CLOVER_MERCHANT_ID or "", "Content-Type": "application/json",
               "Idempotency-Key": idempotency_key}
    try:
        async with httpx.AsyncClient(base_url=settings.CLOVER_API_BASE, timeout=TIMEOUT) as client:
            resp = await client.post(path, json=body, headers=headers)
            resp.raise_for_status()
            data = resp.json()
    except httpx.HTTPStatusError as exc:
        raise GatewayUnavailable(f"clover: HTTP {exc.response.status_code} {exc.response.text[:300]}") from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise GatewayUnavailable(f"clover: {type(exc).__name__}: {exc}") from exc
    if not isinstance(data, dict):
        raise GatewayUnavailable("clover: unexpected answer")
    return data


class CloverGateway:
    name = "clover"
    label = "Clover"
    hosted = True

    async def start_hosted(self, charge: Charge, order_number: str, items: list[dict]) -> HostedSession:
        body: dict[str, Any] = {
            "customer": {"email": charge.customer_email} if charge.customer_email else {},
            "shoppingCart": {"lineItems": [
                {"name": i["name"][:127], "unitQty": i["quantity"], "price": minor_units(i["unit_price"])}
                for i in items]},
        }
        # One line for the whole amount when discounts, shipping or tax apply.
        if sum(minor_units(i["unit_price"]) * i["quantity"] for i in items) != minor_units(charge.amount):
            body["shoppingCart"] = {"lineItems": [{"name": f"Order {order_number}", "unitQty": 1,
                                                   "price": minor_units(charge.amount)}]}
        data = await _post("/invoicingcheckoutservice/v1/checkouts", body, charge.idempotency_key)
        if not data.get("checkoutSessionId") or not data.get("href"):
            raise GatewayUnavailable("clover: the checkout session has no id or page")
        return HostedSession(transaction_id=data["checkoutSessionId"], redirect_url=data["href"])

    async def confirm(self, event: WebhookEvent) -> WebhookEvent:
        return event  # Clover's APPROVED is the payment itself

    async def refund(self, transaction_id: str, amount: Decimal, idempotency_key: str,
                     currency: str = CURRENCY) -> RefundResult:
        """``transaction_id`` is the charge (the payment id of the APPROVED event)."""
        data = await _post("/v1/refunds", {"charge": transaction_id, "amount": minor_units(amount, currency)},
                           idempotency_key)
        status = str(data.get("status", "")).lower()
        if not data.get("id") or status in ("failed", "canceled", "cancelled"):
            raise GatewayUnavailable(f"clover: refund answered {status or 'no id'}")
        return RefundResult(reference=data["id"], status=status or "succeeded")

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: float | None = None) -> WebhookEvent:
        if not verify_signature(headers.get("Clover-Signature"), body, now):
            raise InvalidWebhook()
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidWebhook("Invalid webhook payload") from None
        if not isinstance(event, dict):
            raise InvalidWebhook("Invalid webhook payload")
        status = str(event.get("status", "")).upper()
        outcome = {"APPROVED": "PAID", "DECLINED": "FAILED"}.get(status)
        session = event.get("data") if isinstance(event.get("data"), str) else None
        event_id = str(event.get("id") or "") or f"{session}:{status}"
        currency = str(event["currency"]).upper() if event.get("currency") else None
        amount = event.get("amount")
        return WebhookEvent(provider="clover", event_id=event_id, kind=str(event.get("type", "PAYMENT")),
                            transaction_id=session, outcome=outcome, payload=event,
                            amount=from_minor_units(amount, currency or CURRENCY) if isinstance(amount, int) else None,
                            currency=currency,
                            capture_reference=str(event["id"]) if outcome == "PAID" and event.get("id") else None)


def verify_signature(header: str | None, body: bytes, now: float | None = None) -> bool:
    secret = settings.CLOVER_WEBHOOK_SECRET
    if not secret or not header:
        return False
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    stamp, signature = parts.get("t", ""), parts.get("v1", "")
    if not (stamp.isascii() and stamp.isdigit()) or not signature:
        return False
    if abs((now or time.time()) - int(stamp)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
