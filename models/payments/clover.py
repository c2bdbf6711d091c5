"""Clover hosted checkout (Ecommerce API, httpx async): a checkout session
is created and the shopper is sent to its page; Clover's webhook (status
APPROVED or DECLINED, ``data`` = the checkout session id) settles the
payment. Webhooks carry ``Clover-Signature: t=<unix time>,v1=<hex>`` where v1
is HMAC-SHA256 of ``"<t>.<raw body>"`` with ``CLOVER_WEBHOOK_SECRET``."""
from __future__ import annotations

import hashlib
import hmac
import time

import httpx

import settings
from models.payments.gateway import Charge, GatewayUnavailable, HostedSession, minor_units

TIMEOUT = 20
TOLERANCE_SECONDS = 300


class CloverGateway:
    name = "clover"
    label = "Clover"
    hosted = True

    async def start_hosted(self, charge: Charge, order_number: str, items: list[dict]) -> HostedSession:
        body = {
            "customer": {"email": charge.customer_email} if charge.customer_email else {},
            "shoppingCart": {"lineItems": [
                {"name": i["name"][:127], "unitQty": i["quantity"], "price": minor_units(i["unit_price"])}
                for i in items]},
        }
        # One line for the whole amount when discounts, shipping or tax apply.
        if sum(minor_units(i["unit_price"]) * i["quantity"] for i in items) != minor_units(charge.amount):
            body["shoppingCart"] = {"lineItems": [{"name": f"Order {order_number}", "unitQty": 1,
                                                   "price": minor_units(charge.amount)}]}
        headers = {"Authorization": f"Bearer {settings.CLOVER_API_KEY or ''}",
                   "X-Clover-Merchant-Id": settings.CLOVER_MERCHANT_ID or "", "Content-Type": "application/json",
                   "Idempotency-Key": charge.idempotency_key}
        try:
            async with httpx.AsyncClient(base_url=settings.CLOVER_API_BASE, timeout=TIMEOUT) as client:
                resp = await client.post("/invoicingcheckoutservice/v1/checkouts", json=body, headers=headers)
                resp.raise_for_status()
                data = resp.json()
            return HostedSession(transaction_id=data["checkoutSessionId"], redirect_url=data["href"])
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise GatewayUnavailable() from exc


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


def event_outcome(event: dict) -> tuple[str | None, str | None]:
    status = str(event.get("status", "")).upper()
    outcome = {"APPROVED": "PAID", "DECLINED": "FAILED"}.get(status)
    return event.get("data"), outcome
