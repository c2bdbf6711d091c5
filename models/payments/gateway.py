"""The one small interface every payment provider is used through, and the
neutral results it answers with. Adapters: ``testgateway`` (no keys set),
``stripe_gateway`` (PaymentIntents), ``paypal`` (Orders v2), ``clover``
(hosted checkout). Money crosses this boundary as Decimal; minor units exist
only inside an adapter.

Two shapes of provider:
- card gateways (test, Stripe) authorize now (``authorize``) and are captured
  once the order is committed (``capture``), or released (``void``) if it
  cannot be (stock gone);
- hosted gateways (PayPal, Clover) answer with a page the shopper is sent to
  (``start_hosted``); only their signed webhook marks the payment paid.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

import settings
from models.core.errors import AppError, ServiceUnavailable

ZERO_DECIMAL_CURRENCIES = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
                           "VUV", "XAF", "XOF", "XPF"}
CURRENCY = "USD"


def minor_units(amount: Decimal, currency: str = CURRENCY) -> int:
    """``Decimal("204.97")`` → ``20497`` (cents); zero-decimal currencies as they are."""
    if currency.upper() in ZERO_DECIMAL_CURRENCIES:
        return int(amount)
    return int((amount * 100).to_integral_value())


class PaymentFailed(AppError):
    """A payment the shopper can fix (declined card): 400, nothing changed."""

    status = 400
    message = "Payment processing failed"

    def __init__(self, details: str) -> None:
        super().__init__(self.message, {"payment": [details]}, details=details)


class GatewayUnavailable(ServiceUnavailable):
    message = "The payment provider is not reachable; please try again."


@dataclass
class Authorization:
    """The answer of ``authorize``: ``ok`` with the provider's reference, or a
    decline message the shopper can read."""

    ok: bool
    transaction_id: str | None = None
    message: str = ""
    method: str = "card"              # shown on the order ("Visa", "card")
    reusable_reference: str | None = None  # a saved card's provider reference
    brand: str = ""
    last4: str = ""


@dataclass
class HostedSession:
    transaction_id: str   # the provider's order / checkout session id
    redirect_url: str


@dataclass
class Charge:
    amount: Decimal
    currency: str
    payment_method_id: str | None
    idempotency_key: str
    description: str = ""
    customer_email: str = ""
    save_card: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


class CardGateway(Protocol):
    name: str
    hosted: bool  # False

    async def authorize(self, charge: Charge) -> Authorization: ...
    async def capture(self, transaction_id: str, amount: Decimal, idempotency_key: str) -> None: ...
    async def void(self, transaction_id: str, idempotency_key: str) -> None: ...
    async def refund(self, transaction_id: str, amount: Decimal, idempotency_key: str) -> None: ...


class HostedGateway(Protocol):
    name: str
    hosted: bool  # True

    async def start_hosted(self, charge: Charge, order_number: str, items: list[dict]) -> HostedSession: ...


PAYMENT_METHODS = ("stripe", "paypal", "clover")


def gateway_for(payment_method: str):
    """The adapter for ``payment_method`` (stripe/card → Stripe, or the test
    gateway without STRIPE_SECRET_KEY; paypal; clover)."""
    method = (payment_method or "stripe").lower()
    if method in ("stripe", "card", "credit", "test"):
        if settings.STRIPE_SECRET_KEY and method != "test":
            from models.payments.stripe_gateway import StripeGateway

            return StripeGateway()
        from models.payments.testgateway import TestGateway

        return TestGateway()
    if method == "paypal":
        from models.payments.paypal import PayPalGateway

        return PayPalGateway()
    if method == "clover":
        from models.payments.clover import CloverGateway

        return CloverGateway()
    raise AppError("Invalid shipping method or payment method",
                   {"payment_method": [f'"{payment_method}" is not a valid choice.']})
