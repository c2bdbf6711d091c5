"""Wishlist and stock-notification tables (migrations/0006_cart_wishlist_shipping.sql).

``stock_notification`` rows are written by database triggers when a
wishlisted product comes back in stock or gets cheaper (see
models/wishlist/__init__.py); the API only reads them and marks them read.
"""
from __future__ import annotations

import peewee as pw

from models.accounts.tables import User
from models.catalog.tables import Product, ProductVariation
from models.core.db import BaseModel, MoneyField, utcnow

NOTIFICATION_TYPES = ("BACK_IN_STOCK", "PRICE_DROP")


class Wishlist(BaseModel):
    user = pw.ForeignKeyField(User, unique=True, on_delete="CASCADE")
    created_at = pw.DateTimeField(default=utcnow)


class WishlistItem(BaseModel):
    wishlist = pw.ForeignKeyField(Wishlist, backref="items", on_delete="CASCADE")
    user = pw.ForeignKeyField(User, on_delete="CASCADE")  # = wishlist.user: the triggers' and is_liked's key
    product = pw.ForeignKeyField(Product, on_delete="CASCADE")
    added_at = pw.DateTimeField(default=utcnow)


class StockNotification(BaseModel):
    user = pw.ForeignKeyField(User, on_delete="CASCADE")
    product = pw.ForeignKeyField(Product, on_delete="CASCADE")
    variation = pw.ForeignKeyField(ProductVariation, null=True, on_delete="SET NULL")
    notification_type = pw.CharField(max_length=20)
    message = pw.CharField(max_length=500)
    old_price = MoneyField(null=True)
    new_price = MoneyField(null=True)
    is_read = pw.BooleanField(default=False)
    emailed_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
