"""Payment-side tables (migrations/0008_orders.sql). Payments themselves are
``models.orders.tables.Payment``: a payment always belongs to an order."""
from __future__ import annotations

import peewee as pw
from playhouse.postgres_ext import BinaryJSONField

from models.accounts.tables import User
from models.core.db import BaseModel, utcnow


class WebhookEvent(BaseModel):
    """A provider's webhook event, recorded once (unique provider + event_id)."""

    id = pw.BigAutoField()
    provider = pw.CharField(max_length=20)
    event_id = pw.CharField(max_length=255)
    event_type = pw.CharField(max_length=100, default="")
    payload = BinaryJSONField(default=dict, index=False)
    received_at = pw.DateTimeField(default=utcnow)


class SavedPaymentMethod(BaseModel):
    """``save_card``: the provider's reusable reference only, never card data."""

    user = pw.ForeignKeyField(User, on_delete="CASCADE")
    provider = pw.CharField(max_length=20)
    reference = pw.CharField(max_length=255)
    brand = pw.CharField(max_length=30, default="")
    last4 = pw.CharField(max_length=4, default="")
    created_at = pw.DateTimeField(default=utcnow)


TABLES = [WebhookEvent, SavedPaymentMethod]
