"""Shipping tables: methods (migrations/0006), zones and rates, delivery slots (0023)."""
from __future__ import annotations

import peewee as pw
from playhouse.postgres_ext import ArrayField, BinaryJSONField

from models.core.db import BaseModel, MoneyField, utcnow


class ShippingMethod(BaseModel):
    name = pw.CharField(max_length=100)
    description = pw.TextField(default="")
    price = MoneyField()
    estimated_days = pw.IntegerField()
    is_active = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    handles_bulky = pw.BooleanField(default=False)  # delivers bulky items on a chosen date (0023)


class ShippingZone(BaseModel):
    """Where rates apply (migrations/0023): countries (alpha-2), optionally some of
    their states and postal codes (0028; rules in models/shipping/zones.py PostalRule)."""

    name = pw.CharField(max_length=100)
    countries = ArrayField(pw.CharField, field_kwargs={"max_length": 2}, index=False)
    states = ArrayField(pw.CharField, field_kwargs={"max_length": 100}, index=False, default=list)
    free_shipping_threshold = MoneyField(null=True)
    delivery_capacity = pw.IntegerField(null=True)  # bulky deliveries per day; NULL: no slots
    is_active = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    postal_codes = BinaryJSONField(default=list, index=False)  # [{"start", "end", "prefix"}], normalised
    postal_code_mode = pw.CharField(max_length=7, default="include")  # include | exclude


class ShippingRate(BaseModel):
    """A band of one method in one zone: weight (kg), volume (m3) or subtotal in [min, max)."""

    zone = pw.ForeignKeyField(ShippingZone, on_delete="CASCADE", backref="rates")
    shipping_method = pw.ForeignKeyField(ShippingMethod, on_delete="CASCADE")
    basis = pw.CharField(max_length=10)
    min_value = pw.DecimalField(max_digits=12, decimal_places=3, default=0)
    max_value = pw.DecimalField(max_digits=12, decimal_places=3, null=True)
    price = MoneyField()
    created_at = pw.DateTimeField(default=utcnow)
