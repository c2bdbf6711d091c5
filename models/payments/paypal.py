"""PayPal Orders v2 over REST (httpx, async): an order is created with intent
CAPTURE and the shopper is sent to its approval link; the webhook
CHECKOUT.ORDER.APPROVED makes us capture it, and PAYMENT.CAPTURE.COMPLETED
(or DENIED) settles the payment. Webhooks are verified by PayPal's
verify-webhook-signature API (needs ``PAYPAL_WEBHOOK_ID``)."""
from __future__ import annotations

from typing import Any

import httpx

import settings
from models.payments.gateway import Charge, GatewayUnavailable, HostedSession

TIMEOUT = 20


async def _token(client: httpx.AsyncClient) -> str:
    resp = await client.post("/v1/oauth2/token", data={"grant_type": "client_credentials"},
                             auth=(settings.PAYPAL_CLIENT_ID or "", settings.PAYPAL_CLIENT_SECRET or ""))
    resp.raise_for_status()
    return resp.json()["access_token"]


async def _call(method: str, path: str, *, json: Any = None, request_id: str | None = None) -> dict:
    try:
        async with httpx.AsyncClient(base_url=settings.PAYPAL_API_BASE, timeout=TIMEOUT) as client:
            headers = {"Authorization": f"Bearer {await _token(client)}", "Content-Type": "application/json"}
            if request_id:
                headers["PayPal-Request-Id"] = request_id  # PayPal's idempotency key
            resp = await client.request(method, path, json=json, headers=headers)
            resp.raise_for_status()
            return resp.json()
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise GatewayUnavailable() from exc


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
        if not link:
            raise GatewayUnavailable()
        return HostedSession(transaction_id=order["id"], redirect_url=link)


async def capture_order(paypal_order_id: str) -> dict:
    """Capture an approved PayPal order (idempotent on PayPal's side by request id)."""
    return await _call("POST", f"/v2/checkout/orders/{paypal_order_id}/capture", json={},
                       request_id=f"capture-{paypal_order_id}")


async def verify_webhook(headers: dict[str, str], event: dict) -> bool:
    """PayPal's own check of a webhook's signature headers against our webhook id."""
    if not settings.PAYPAL_WEBHOOK_ID:
        return False
    body = {
        "auth_algo": headers.get("PAYPAL-AUTH-ALGO", ""),
        "cert_url": headers.get("PAYPAL-CERT-URL", ""),
        "transmission_id": headers.get("PAYPAL-TRANSMISSION-ID", ""),
        "transmission_sig": headers.get("PAYPAL-TRANSMISSION-SIG", ""),
        "transmission_time": headers.get("PAYPAL-TRANSMISSION-TIME", ""),
        "webhook_id": settings.PAYPAL_WEBHOOK_ID,
        "webhook_event": event,
    }
    if not all(body[k] for k in ("auth_algo", "cert_url", "transmission_id", "transmission_sig",
                                 "transmission_time")):
        return False
    result = await _call("POST", "/v1/notifications/verify-webhook-signature", json=body)
    return result.get("verification_status") == "SUCCESS"


def event_outcome(event: dict) -> tuple[str | None, str | None]:
    """``(paypal_order_id, outcome)`` of an event: outcome PAID/FAILED/REFUNDED,
    "APPROVED" (capture it), or None."""
    kind = event.get("event_type", "")
    resource = event.get("resource") or {}
    if kind == "CHECKOUT.ORDER.APPROVED":
        return resource.get("id"), "APPROVED"
    related = ((resource.get("supplementary_data") or {}).get("related_ids") or {}).get("order_id")
    if kind == "PAYMENT.CAPTURE.COMPLETED":
        return related, "PAID"
    if kind in ("PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.DECLINED"):
        return related, "FAILED"
    if kind == "PAYMENT.CAPTURE.REFUNDED":
        return related, "REFUNDED"
    return None, None
