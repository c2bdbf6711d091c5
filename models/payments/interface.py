"""The one small interface every payment provider is used through, and the
neutral results it answers with. It imports no provider: the providers
(``providers/<name>.py``) import it, and ``registry`` picks them by name.
Money crosses this boundary as Decimal; minor units exist only inside a
provider.

Two shapes of provider:
- card gateways (test, Stripe) authorize now (``authorize``) and are captured
  once the order is committed (``capture``), or released (``void``) if it
  cannot be (stock gone);
- hosted gateways (PayPal, Clover) answer with a page the shopper is sent to
  (``start_hosted``); only their verified webhook (or capture) marks the
  payment paid.

Every provider refunds (``refund``) and parses and verifies its own webhooks
(``parse_webhook`` → a neutral ``WebhookEvent``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping, Protocol

from models.core.errors import AppError, ServiceUnavailable

ZERO_DECIMAL_CURRENCIES = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
                           "VUV", "XAF", "XOF", "XPF"}
CURRENCY = "USD"


def minor_units(amount: Decimal, currency: str = CURRENCY) -> int:
    """``Decimal("204.97")`` → ``20497`` (cents); zero-decimal currencies as they are."""
    if currency.upper() in ZERO_DECIMAL_CURRENCIES:
        return int(amount)
    return int((amount * 100).to_integral_value())


def from_minor_units(amount: int, currency: str = CURRENCY) -> Decimal:
    """The inverse of ``minor_units``."""
    if currency.upper() in ZERO_DECIMAL_CURRENCIES:
        return Decimal(int(amount)).quantize(Decimal("0.01"))
    return (Decimal(int(amount)) / 100).quantize(Decimal("0.01"))


class PaymentFailed(AppError):
    """A payment the shopper can fix (declined card): 400, nothing changed."""

    status = 400
    message = "Payment processing failed"

    def __init__(self, details: str) -> None:
        super().__init__(self.message, {"payment": [details]}, details=details)


class GatewayUnavailable(ServiceUnavailable):
    """The provider could not be used (not configured, unreachable, refused
    the request). ``reason`` is the provider's own words, for the log."""

    message = "The payment provider is not reachable; please try again."

    def __init__(self, reason: str = "", message: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or self.message


class InvalidWebhook(AppError):
    """A webhook whose payload or signature the provider did not make: 400."""

    status = 400
    message = "Invalid webhook signature"


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


@dataclass
class RefundResult:
    """A refund the provider accepted: its reference and status."""

    reference: str
    status: str = "succeeded"


@dataclass
class WebhookEvent:
    """A verified provider event in neutral terms.

    ``outcome``: PAID, FAILED, REFUNDED, APPROVED (hosted: approved by the
    shopper, to be captured) or None (not ours to act on). ``amount`` and
    ``currency`` are what the provider says moved, when the event says it;
    ``capture_reference`` is what a refund of this payment must name when it
    differs from ``transaction_id`` (a PayPal capture, a Clover charge).
    REFUNDED events: with ``refund_reference`` (PayPal), ``amount`` is that one
    refund's; without it (Stripe), the total refunded so far.
    """

    provider: str
    event_id: str
    kind: str
    transaction_id: str | None
    outcome: str | None
    payload: dict[str, Any]
    amount: Decimal | None = None
    currency: str | None = None
    capture_reference: str | None = None
    refund_reference: str | None = None


class Provider(Protocol):
    name: str
    label: str
    hosted: bool

    async def refund(self, transaction_id: str, amount: Decimal, idempotency_key: str,
                     currency: str = CURRENCY) -> RefundResult:
        """Give ``amount`` of a captured payment back. Raises GatewayUnavailable
        (nothing refunded, safe to retry with the same key)."""
        ...

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify the provider's signature on the raw body and parse the
        event. Raises InvalidWebhook."""
        ...


class CardGateway(Provider, Protocol):
    async def authorize(self, charge: Charge) -> Authorization: ...
    async def capture(self, transaction_id: str, amount: Decimal, idempotency_key: str) -> None: ...
    async def void(self, transaction_id: str, idempotency_key: str) -> None: ...


class HostedGateway(Provider, Protocol):
    async def start_hosted(self, charge: Charge, order_number: str, items: list[dict]) -> HostedSession: ...

    async def confirm(self, event: WebhookEvent) -> WebhookEvent:
        """Act on an APPROVED event (PayPal: capture the order) and answer
        the settled event (outcome PAID with amount and capture reference, or
        None). Raises GatewayUnavailable."""
        ...
