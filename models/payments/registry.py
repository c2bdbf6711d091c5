"""Which provider serves a payment method or a recorded payment: settings
choose by name (``PAYMENT_PROVIDERS``: dotted paths), as Saleor's PLUGINS.
The only module that knows the providers; nothing imports one directly.

- ``stripe`` / ``card``: Stripe with ``STRIPE_SECRET_KEY``, else the built-in
  test gateway (CONTRACT: no payment keys → a test gateway);
- ``paypal``, ``clover``: hosted checkouts (without their keys, starting one
  answers 503 and names what is missing in the log).
"""
from __future__ import annotations

import importlib
from typing import Any

import settings
from models.core.errors import AppError

PROVIDERS: dict[str, str] = {
    "test": "models.payments.providers.test:TestGateway",
    "stripe": "models.payments.providers.stripe:StripeGateway",
    "paypal": "models.payments.providers.paypal:PayPalGateway",
    "clover": "models.payments.providers.clover:CloverGateway",
}
# The payment methods a shopper may choose at checkout.
PAYMENT_METHODS = ("stripe", "paypal", "clover")
_CARD = ("stripe", "card", "credit")


def _load(name: str) -> Any:
    module, _, attr = PROVIDERS[name].partition(":")
    return getattr(importlib.import_module(module), attr)()


def provider(name: str) -> Any:
    """The provider recorded on a payment (``payment.provider``): test,
    stripe, paypal, clover. Raises AppError for any other name (a manual
    payment has no provider)."""
    if name not in PROVIDERS:
        raise AppError(f"Payments of provider {name!r} cannot go through a gateway.",
                       {"provider": [f'"{name}" has no gateway.']})
    return _load(name)


def gateway_for(payment_method: str) -> Any:
    """The provider for a shopper's ``payment_method`` (stripe/card → Stripe,
    or the test gateway without STRIPE_SECRET_KEY; paypal; clover)."""
    method = (payment_method or "stripe").lower()
    if method in _CARD or method == "test":
        return _load("stripe" if settings.STRIPE_SECRET_KEY and method != "test" else "test")
    if method in PROVIDERS:
        return _load(method)
    raise AppError("Invalid shipping method or payment method",
                   {"payment_method": [f'"{payment_method}" is not a valid choice.']})
