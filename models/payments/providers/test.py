"""The built-in test gateway (no payment keys set): ``pm_card_chargeDeclined``
is declined with "Your card was declined", any other ``pm_card_*`` succeeds.

3-D Secure, as Stripe's test cards: ``pm_card_authenticationRequired`` needs
the shopper to authenticate (the order awaits it); the confirm call then
finds it authenticated (``check`` → APPROVED) and captures it.
``pm_card_authenticationRequiredDeclined`` needs authentication that then
fails (``check`` → FAILED). With a ``return_url`` the next action is a
``redirect_to_url`` whose page is the return URL itself with Stripe's query
(``payment_intent``, ``payment_intent_client_secret``, ``redirect_status``):
a bank page that authenticates at once. The state lives in the transaction id, so any
process can check it. Saved cards: customers ``cus_test_…``; detaching does
nothing. Refunds always succeed; it receives no webhooks."""
from __future__ import annotations

import hashlib
import urllib.parse
import uuid
from decimal import Decimal
from typing import Mapping

from models.payments.interface import (
    CURRENCY,
    Authorization,
    Charge,
    CustomerAction,
    InvalidWebhook,
    RefundResult,
    WebhookEvent,
)

DECLINED = "Your card was declined"
AUTH_FAILED = "Your card could not be authenticated"
BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express"}
NEEDS_AUTH = "pm_card_authenticationRequired"
NEEDS_AUTH_FAILS = "pm_card_authenticationRequiredDeclined"
_3DS_OK, _3DS_FAIL = "txn_test_3ds_ok_", "txn_test_3ds_fail_"


class TestGateway:
    name = "test"
    label = "Card"
    hosted = False

    async def authorize(self, charge: Charge) -> Authorization:
        pm = charge.payment_method_id or ""
        if pm == "pm_card_chargeDeclined" or pm.startswith("pm_card_chargeDeclined"):
            return Authorization(ok=False, message=DECLINED)
        if not pm.startswith("pm_card_"):
            return Authorization(ok=False, message="Invalid payment method")
        kind = pm[len("pm_card_"):]
        brand = BRANDS.get(kind.lower(), "Card")
        saved = pm if charge.save_card else None
        if pm.startswith(NEEDS_AUTH):
            prefix = _3DS_FAIL if pm == NEEDS_AUTH_FAILS else _3DS_OK
            txn = f"{prefix}{uuid.uuid5(uuid.NAMESPACE_URL, charge.idempotency_key).hex[:20]}"
            secret = f"{txn}_secret_test"
            next_action: dict = {"type": "use_stripe_sdk", "redirect_to_url": None}
            if charge.return_url:
                query = urllib.parse.urlencode({"payment_intent": txn, "payment_intent_client_secret": secret,
                                                "redirect_status": "failed" if prefix == _3DS_FAIL else "succeeded"})
                page = charge.return_url + ("&" if "?" in charge.return_url else "?") + query
                next_action = {"type": "redirect_to_url",
                               "redirect_to_url": {"url": page, "return_url": charge.return_url}}
            return Authorization(ok=True, transaction_id=txn, method="Card", brand="Card", last4="3184",
                                 exp_month=12, exp_year=2034, reusable_reference=saved,
                                 action=CustomerAction(client_secret=secret, next_action=next_action))
        return Authorization(ok=True, transaction_id=f"txn_test_{uuid.uuid4().hex[:20]}", method=brand, brand=brand,
                             last4="4242", exp_month=12, exp_year=2034, reusable_reference=saved)

    async def check(self, transaction_id: str) -> WebhookEvent:
        if transaction_id.startswith(_3DS_FAIL):
            outcome, state = "FAILED", "requires_payment_method"
        elif transaction_id.startswith(_3DS_OK):
            outcome, state = "APPROVED", "requires_capture"
        else:
            outcome, state = "PAID", "succeeded"
        return WebhookEvent(provider=self.name, event_id=f"check:{transaction_id}:{state}", kind=f"check.{state}",
                            transaction_id=transaction_id, outcome=outcome,
                            payload={"id": transaction_id, "status": state,
                                     "last_payment_error": {"message": AUTH_FAILED} if outcome == "FAILED" else None})

    async def confirm(self, event: WebhookEvent) -> WebhookEvent:
        event.outcome = "PAID"
        return event

    async def capture(self, transaction_id: str, amount: Decimal, idempotency_key: str) -> None:
        return None

    async def void(self, transaction_id: str, idempotency_key: str) -> None:
        return None

    async def refund(self, transaction_id: str, amount: Decimal, idempotency_key: str,
                     currency: str = CURRENCY) -> RefundResult:
        return RefundResult(reference=f"re_test_{uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex[:20]}")

    async def ensure_customer(self, user_key: str, email: str) -> str:
        return f"cus_test_{hashlib.sha256(user_key.encode()).hexdigest()[:16]}"

    async def detach(self, reference: str) -> None:
        return None

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        raise InvalidWebhook()
