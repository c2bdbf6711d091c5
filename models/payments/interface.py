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

A card gateway may answer ``authorize`` with a ``CustomerAction``: the
issuer wants the shopper to authenticate (3-D Secure). The order is then
created PENDING holding its stock (``reserved_until``), the storefront
finishes the action with the provider's ``client_secret`` / ``next_action``,
and the payment is settled by the provider's webhook or by ``check`` (the
server re-reads the payment, then ``confirm`` captures it).

Saved cards (``CardVault``): one provider customer per user, created once
(``ensure_customer``, idempotent), cards detached on delete; only the
provider's ids, brand, last4 and expiry are kept.

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


def next_action_of(raw: Any) -> dict[str, Any] | None:
    """What of a provider's ``next_action`` the storefront gets: its ``type``
    and, for redirects, where to send the shopper (Stripe.js reads the rest
    itself with the client secret)."""
    if not isinstance(raw, dict) or not raw.get("type"):
        return None
    action: dict[str, Any] = {"type": str(raw["type"]), "redirect_to_url": None}
    redirect = raw.get("redirect_to_url")
    if isinstance(redirect, dict) and redirect.get("url"):
        action["redirect_to_url"] = {"url": str(redirect["url"]), "return_url": redirect.get("return_url")}
    return action


@dataclass
class CustomerAction:
    """The payment waits for the shopper (3-D Secure): what the storefront
    needs to finish it (Stripe: ``stripe.handleNextAction({clientSecret})``)."""

    client_secret: str
    next_action: dict[str, Any] = field(default_factory=dict)


@dataclass
class Authorization:
    """The answer of ``authorize``: ``ok`` with the provider's reference, or a
    decline message the shopper can read. ``ok`` with an ``action``: not yet
    authorized, the shopper must authenticate first (``transaction_id`` names
    the pending payment)."""

    ok: bool
    transaction_id: str | None = None
    message: str = ""
    method: str = "card"              # shown on the order ("Visa", "card")
    reusable_reference: str | None = None  # a saved card's provider reference
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    action: CustomerAction | None = None


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
    customer_reference: str | None = None  # the provider's customer (saved cards)
    # Where a redirect-based authentication (bank-redirect 3-D Secure) sends the shopper back.
    return_url: str | None = None


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


@dataclass
class SavedCard:
    """A card the provider keeps for a customer: its reference and what may be shown."""

    reference: str
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None


class CardGateway(Provider, Protocol):
    async def authorize(self, charge: Charge) -> Authorization: ...
    async def capture(self, transaction_id: str, amount: Decimal, idempotency_key: str) -> None: ...
    async def void(self, transaction_id: str, idempotency_key: str) -> None: ...

    async def check(self, transaction_id: str) -> WebhookEvent:
        """Re-read a payment that waited for the shopper: outcome APPROVED
        (authenticated, to be captured with ``confirm``), PAID, FAILED, or None
        (still waiting). ``event_id`` names the state read, so that settling
        it twice is one settlement. Raises GatewayUnavailable."""
        ...

    async def confirm(self, event: WebhookEvent) -> WebhookEvent:
        """Capture an APPROVED payment; answers it as PAID. Raises GatewayUnavailable."""
        ...


class CardVault(Protocol):
    async def ensure_customer(self, user_key: str, email: str) -> str:
        """The provider's customer for ``user_key`` (created once: a retry with
        the same key answers the same customer). Raises GatewayUnavailable."""
        ...

    async def detach(self, reference: str) -> None:
        """The saved card can no longer be used. Raises GatewayUnavailable."""
        ...


class HostedGateway(Provider, Protocol):
    async def start_hosted(self, charge: Charge, order_number: str, items: list[dict]) -> HostedSession: ...

    async def confirm(self, event: WebhookEvent) -> WebhookEvent:
        """Act on an APPROVED event (PayPal: capture the order) and answer
        the settled event (outcome PAID with amount and capture reference, or
        None). Raises GatewayUnavailable."""
        ...
