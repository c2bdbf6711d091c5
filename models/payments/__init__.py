"""Payments: one small gateway interface (``gateway``) with an adapter per
provider (test, Stripe, PayPal, Clover), webhooks, saved payment methods."""
