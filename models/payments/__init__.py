"""Payments: the provider seam and what providers leave behind.

- ``interface``: Protocols and neutral results (Charge, Authorization,
  HostedSession, WebhookEvent, RefundResult, PaymentFailed,
  GatewayUnavailable, minor_units); imports no provider;
- ``providers/<name>.py``: test, stripe, paypal, clover — each imports only
  the interface and verifies and parses its own webhooks;
- ``registry``: settings choose providers by name (``gateway_for``,
  ``provider``);
- ``tables``: webhook events, saved payment methods, refund attempts.

Payments import no other domain: paying for an order, settling webhooks and
refunding live in ``models.checkout``, the layer above orders and payments.
"""
