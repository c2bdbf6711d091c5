"""Cart, promo code and abandoned-cart tables (migrations/0006_cart_wishlist_shipping.sql).

Reads of the cart are hand-written SQL (models/cart/queries.py); the one-line-
per-product+variation rule is the unique index ``cart_item_line`` on
``(cart_id, product_id, COALESCE(variation_id, 0))``, which adds meet through
``INSERT ... ON CONFLICT``.
"""
from __future__ import annotations

import peewee as pw
from playhouse.postgres_ext import ArrayField, BinaryJSONField

from models.accounts.tables import User
from models.catalog.tables import Product, ProductVariation
from models.core.db import BaseModel, MoneyField, utcnow


class PromoCode(BaseModel):
    """A promotion (migration 0025): a code, or automatic (no code); percentage,
    fixed amount or free shipping; optionally scoped to categories/products."""

    code = pw.CharField(max_length=50, null=True)  # stored upper-case; unique on upper(code); None: automatic
    name = pw.CharField(max_length=100, default="")
    discount_type = pw.CharField(max_length=15, default="percentage")  # percentage, fixed, free_shipping
    discount_percentage = pw.DecimalField(max_digits=5, decimal_places=2, null=True)
    discount_amount = MoneyField(null=True)
    automatic = pw.BooleanField(default=False)
    per_customer_limit = pw.IntegerField(null=True)
    category_ids = ArrayField(pw.IntegerField, default=list)
    product_ids = ArrayField(pw.IntegerField, default=list)
    include_subcategories = pw.BooleanField(default=True)
    valid_from = pw.DateTimeField(null=True)
    valid_to = pw.DateTimeField(null=True)
    min_order_amount = MoneyField(default=0)
    usage_limit = pw.IntegerField(null=True)
    times_used = pw.IntegerField(default=0)
    is_active = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class Cart(BaseModel):
    user = pw.ForeignKeyField(User, unique=True, on_delete="CASCADE")
    promo_code = pw.ForeignKeyField(PromoCode, null=True, on_delete="SET NULL")
    abandoned_cart_id = pw.IntegerField(null=True)  # the open AbandonedCart episode
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)  # its own last change; idle time also counts its lines


class CartItem(BaseModel):
    cart = pw.ForeignKeyField(Cart, backref="items", on_delete="CASCADE")
    product = pw.ForeignKeyField(Product, on_delete="CASCADE")
    variation = pw.ForeignKeyField(ProductVariation, null=True, on_delete="CASCADE")
    quantity = pw.IntegerField()
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class AbandonedCart(BaseModel):
    """A cart that held items and sat idle for ``ABANDONED_CART_HOURS``: what it
    held then, the reminders sent, and the order that followed (if any)."""

    cart = pw.ForeignKeyField(Cart, on_delete="CASCADE")
    user = pw.ForeignKeyField(User, on_delete="CASCADE")
    abandoned_at = pw.DateTimeField()
    items = BinaryJSONField(index=False)  # [{"product_id", "variation_id", "quantity"}]
    subtotal = MoneyField()
    token = pw.CharField(max_length=64, unique=True)  # the restore link's secret
    reminders_sent = pw.SmallIntegerField(default=0)
    last_reminder_at = pw.DateTimeField(null=True)
    restored_at = pw.DateTimeField(null=True)
    order_id = pw.IntegerField(null=True)  # the recovered order
    recovered_at = pw.DateTimeField(null=True)
    closed_at = pw.DateTimeField(null=True)
