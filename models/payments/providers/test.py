"""The built-in test gateway (no payment keys set): ``pm_card_chargeDeclined``
is declined with "Your card was declined", any other ``pm_card_*`` succeeds.
Refunds always succeed; it receives no webhooks."""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Mapping

from models.payments.interface import CURRENCY, Authorization, Charge, InvalidWebhook, RefundResult, WebhookEvent

DECLINED = "Your card was declined"
BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express"}


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
        return Authorization(ok=True, transaction_id=f"txn_test_{uuid.uuid4().hex[:20]}", method=brand, brand=brand,
                             last4="4242", reusable_reference=pm if charge.save_card else None)

    async def capture(self, transaction_id: str, amount: Decimal, idempotency_key: str) -> None:
        return None

    async def void(self, transaction_id: str, idempotency_key: str) -> None:
        return None

    async def refund(self, transaction_id: str, amount: Decimal, idempotency_key: str,
                     currency: str = CURRENCY) -> RefundResult:
        return RefundResult(reference=f"re_test_{uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex[:20]}")

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        raise InvalidWebhook()
