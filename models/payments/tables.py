"""Payment-side tables (migrations/0008_orders.sql, 0014). Payments themselves
are ``models.orders.tables.Payment``: a payment always belongs to an order.
Refund rows name their order and payment by id (payments import no orders).
The other payment-side tables (webhook_event, saved_payment_method,
payment_customer) are read and written in SQL only; migrations/ defines them."""
from __future__ import annotations

import peewee as pw
from playhouse.postgres_ext import BinaryJSONField

from models.core.db import BaseModel, MoneyField, utcnow


class Refund(BaseModel):
    """One refund attempt: pending while the provider is asked, then succeeded
    (provider_reference) or failed (failure_message, may be retried)."""

    order_id = pw.IntegerField()
    payment_id = pw.IntegerField(null=True)
    amount = MoneyField()
    status = pw.CharField(max_length=10, default="pending")  # pending | succeeded | failed
    provider = pw.CharField(max_length=20, default="")
    provider_reference = pw.CharField(max_length=255, null=True)
    reason = pw.TextField(default="")
    failure_message = pw.TextField(default="")
    lines = BinaryJSONField(default=list, index=False)  # [{order_item_id, quantity}]
    restock = pw.BooleanField(default=False)
    created_by = pw.IntegerField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
