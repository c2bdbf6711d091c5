"""PayPal Orders v2 over REST (httpx, async): an order is created with intent
CAPTURE and the shopper is sent to its approval link; the webhook
CHECKOUT.ORDER.APPROVED makes us capture it, and PAYMENT.CAPTURE.COMPLETED
(or DENIED) settles the payment. Refunds go to Payments v2
``captures/{capture_id}/refund``. Webhooks are verified by PayPal's
verify-webhook-signature API (needs ``PAYPAL_WEBHOOK_ID``). Without
``PAYPAL_CLIENT_ID``/``PAYPAL_CLIENT_SECRET`` nothing is sent: 503."""
from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
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
)

log = logging.getLogger("avantlush.payments.paypal")
TIMEOUT = 20
SIGNATURE_HEADERS = ("PAYPAL-AUTH-ALGO", "PAYPAL-CERT-URL", "PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-SIG",
                     "PAYPAL-TRANSMISSION-TIME")


def _configured() -> None:
    if not (settings.PAYPAL_CLIENT_ID and settings.PAYPAL_CLIENT_SECRET):
        raise GatewayUnavailable("paypal: PAYPAL_CLIENT_ID / PAYPAL_CLIENT_SECRET are not set",
                                 "PayPal is not available; please choose another payment method.")


async def _token(client: httpx.AsyncClient) -> str:
    resp = await client.post("/v1/oauth2/token", data={"grant_type": "client_credentials"},
                             auth=(settings.PAYPAL_CLIENT_ID or "", settings.PAYPAL_CLIENT_SECRET or ""))
    resp.raise_for_status()
    return resp.json()["access_token"]


def _why(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"paypal: HTTP {exc.response.status_code} {exc.response.text[:300]}"
    return f"paypal: {type(exc).__name__}: {exc}"


async def _call(method: str, path: str, *, json: Any = None, request_id: str | None = None) -> dict:
    _configured()
    try:
        async with httpx.AsyncClient(base_url=settings.PAYPAL_API_BASE, timeout=TIMEOUT) as client:
            headers = {"Authorization": f"Bearer {await _token(client)}", "Content-Type": "application/json"}
            if request_id:
                headers["PayPal-Request-Id"] = request_id  # PayPal's idempotency key
            resp = await client.request(method, path, json=json, headers=headers)
            resp.raise_for_status()
            return resp.json()
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise GatewayUnavailable(_why(exc)) from exc


def _amount(doc: Any) -> tuple[Decimal | None, str | None]:
    if not isinstance(doc, dict):
        return None, None
    try:
        value = Decimal(str(doc.get("value")))
    except (InvalidOperation, ValueError):
        value = None
    currency = doc.get("currency_code")
    return value, str(currency).upper() if currency else None


def _captured(order: dict) -> tuple[str | None, Decimal | None, str | None, str | None]:
    """``(capture_id, amount, currency, status)`` of an order's first capture."""
    for unit in order.get("purchase_units") or []:
        for capture in ((unit.get("payments") or {}).get("captures") or []):
            amount, currency = _amount(capture.get("amount"))
            return capture.get("id"), amount, currency, capture.get("status")
    return None, None, None, None


class PayPalGateway:
    name = "paypal"
    label = "PayPal"
    hosted = True

    async def start_hosted(self, charge: Charge, order_number: str, items: list[dict]) -> HostedSession:
        body = {
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": order_number,
                "custom_id": order_number,
                "description": charge.description[:127],
                "amount": {"currency_code": charge.currency, "value": f"{charge.amount:.2f}"},
            }],
            "payment_source": {"paypal": {"experience_context": {
                "return_url": f"{settings.FRONTEND_URL}/checkout/complete?order={order_number}",
                "cancel_url": f"{settings.FRONTEND_URL}/checkout/cancelled?order={order_number}",
                "user_action": "PAY_NOW"}}},
        }
        order = await _call("POST", "/v2/checkout/orders", json=body, request_id=charge.idempotency_key)
        link = next((l["href"] for l in order.get("links", []) if l.get("rel") in ("payer-action", "approve")), None)
        if not link or not order.get("id"):
            raise GatewayUnavailable("paypal: the order has no approval link")
        return HostedSession(transaction_id=order["id"], redirect_url=link)

    async def confirm(self, event: WebhookEvent) -> WebhookEvent:
        """Capture an approved order (idempotent on PayPal's side by request id)."""
        if event.outcome != "APPROVED" or not event.transaction_id:
            return event
        order = await _call("POST", f"/v2/checkout/orders/{event.transaction_id}/capture", json={},
                            request_id=f"capture-{event.transaction_id}")
        capture_id, amount, currency, status = _captured(order)
        done = order.get("status") == "COMPLETED" and status in (None, "COMPLETED")
        event.outcome = "PAID" if done else None
        event.amount, event.currency = amount, currency
        event.capture_reference = capture_id
        return event

    async def refund(self, transaction_id: str, amount: Decimal, idempotency_key: str,
                     currency: str = CURRENCY) -> RefundResult:
        """``transaction_id`` is the capture id (a refund names the capture, not the order)."""
        body = {"amount": {"value": f"{amount:.2f}", "currency_code": currency}}
        refund = await _call("POST", f"/v2/payments/captures/{transaction_id}/refund", json=body,
                             request_id=idempotency_key)
        status = str(refund.get("status", "")).upper()
        if status not in ("COMPLETED", "PENDING") or not refund.get("id"):
            raise GatewayUnavailable(f"paypal: refund answered {status or 'no status'}")
        return RefundResult(reference=refund["id"], status=status.lower())

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """PayPal's own check of the signature headers against our webhook id."""
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidWebhook("Invalid webhook payload") from None
        if not isinstance(event, dict) or not event.get("id"):
            raise InvalidWebhook("Invalid webhook payload")
        upper = {k.upper(): v for k, v in headers.items()}
        if not settings.PAYPAL_WEBHOOK_ID or not all(upper.get(h) for h in SIGNATURE_HEADERS):
            raise InvalidWebhook()
        check = {
            "auth_algo": upper["PAYPAL-AUTH-ALGO"], "cert_url": upper["PAYPAL-CERT-URL"],
            "transmission_id": upper["PAYPAL-TRANSMISSION-ID"], "transmission_sig": upper["PAYPAL-TRANSMISSION-SIG"],
            "transmission_time": upper["PAYPAL-TRANSMISSION-TIME"], "webhook_id": settings.PAYPAL_WEBHOOK_ID,
            "webhook_event": event,
        }
        result = await _call("POST", "/v1/notifications/verify-webhook-signature", json=check)
        if result.get("verification_status") != "SUCCESS":
            raise InvalidWebhook()
        return _neutral(event)


def _neutral(event: dict) -> WebhookEvent:
    """The order id, outcome, amount and capture id of a PayPal event."""
    kind = str(event.get("event_type", ""))
    resource = event.get("resource") or {}
    order_id, outcome, amount, currency, capture, refund = None, None, None, None, None, None
    if kind == "CHECKOUT.ORDER.APPROVED":
        order_id, outcome = resource.get("id"), "APPROVED"
        units = resource.get("purchase_units") or [{}]
        amount, currency = _amount(units[0].get("amount"))
    else:
        related = ((resource.get("supplementary_data") or {}).get("related_ids") or {}).get("order_id")
        outcome = {"PAYMENT.CAPTURE.COMPLETED": "PAID", "PAYMENT.CAPTURE.DENIED": "FAILED",
                   "PAYMENT.CAPTURE.DECLINED": "FAILED", "PAYMENT.CAPTURE.REFUNDED": "REFUNDED"}.get(kind)
        if outcome is not None:
            order_id = related
            if outcome in ("PAID", "REFUNDED"):
                amount, currency = _amount(resource.get("amount"))
            if outcome == "PAID":
                capture = resource.get("id")
            if outcome == "REFUNDED":
                refund = resource.get("id")
    return WebhookEvent(provider="paypal", event_id=str(event["id"]), kind=kind, transaction_id=order_id,
                        outcome=outcome, payload=event, amount=amount, currency=currency, capture_reference=capture,
                        refund_reference=refund)
