"""The ``shipping_method`` table (migrations/0006_cart_wishlist_shipping.sql)."""
from __future__ import annotations

import peewee as pw

from models.core.db import BaseModel, MoneyField, utcnow


class ShippingMethod(BaseModel):
    name = pw.CharField(max_length=100)
    description = pw.TextField(default="")
    price = MoneyField()
    estimated_days = pw.IntegerField()
    is_active = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
