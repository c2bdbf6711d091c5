"""Payment-side tables (migrations/0008_orders.sql, 0014). Payments themselves
are ``models.orders.tables.Payment``: a payment always belongs to an order.
Refund rows name their order and payment by id (payments import no orders)."""
from __future__ import annotations

import peewee as pw
from playhouse.postgres_ext import BinaryJSONField

from models.accounts.tables import User
from models.core.db import BaseModel, MoneyField, utcnow


class WebhookEvent(BaseModel):
    """A provider's webhook event, recorded once (unique provider + event_id)."""

    id = pw.BigAutoField()
    provider = pw.CharField(max_length=20)
    event_id = pw.CharField(max_length=255)
    event_type = pw.CharField(max_length=100, default="")
    payload = BinaryJSONField(default=dict, index=False)
    received_at = pw.DateTimeField(default=utcnow)
    result = pw.CharField(max_length=30, default="")  # applied, ignored, amount_mismatch, …


class SavedPaymentMethod(BaseModel):
    """``save_card``: the provider's reusable reference only, never card data."""

    user = pw.ForeignKeyField(User, on_delete="CASCADE")
    provider = pw.CharField(max_length=20)
    reference = pw.CharField(max_length=255)
    brand = pw.CharField(max_length=30, default="")
    last4 = pw.CharField(max_length=4, default="")
    exp_month = pw.SmallIntegerField(null=True)
    exp_year = pw.SmallIntegerField(null=True)
    customer_reference = pw.CharField(max_length=255, null=True)  # the provider's customer it is attached to
    created_at = pw.DateTimeField(default=utcnow)


class PaymentCustomer(BaseModel):
    """The provider's customer of a user (Stripe Customer), created once (migrations/0021)."""

    user = pw.ForeignKeyField(User, on_delete="CASCADE")
    provider = pw.CharField(max_length=20)
    reference = pw.CharField(max_length=255)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        primary_key = pw.CompositeKey("user", "provider")


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


TABLES = [WebhookEvent, SavedPaymentMethod, PaymentCustomer, Refund]
