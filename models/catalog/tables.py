"""Catalog tables. Constraints live here and in migrations/0002_catalog.sql.

``Product.price`` (base price less discount) and ``Product.search_vector`` are
maintained by PostgreSQL (a generated column and a trigger); never write them.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import peewee as pw
from playhouse.postgres_ext import BinaryJSONField, TSVectorField

from models.accounts.tables import User
from models.core.db import BaseModel, MoneyField, money, utcnow

PRODUCT_STATUSES = ("draft", "published", "archived")
STATUS_SYNONYMS = {"active": "published"}
DISCOUNT_TYPES = ("percentage", "fixed")
LOW_STOCK_MAX = 10  # 1..10 in stock is "low stock"
# Units of one product (or variation) in one cart or order line.
MAX_LINE_QUANTITY = 10_000


def variation_price(base_price: Any, adjustment: Any) -> Decimal:
    """A variation's ``final_price``: the product's base price plus the
    variation's adjustment (the spec's rule, discount not applied), never below
    zero. Not what the customer pays: that is ``line_unit_price``."""
    return max(money(Decimal(str(base_price)) + Decimal(str(adjustment))), Decimal("0.00"))


def line_unit_price(selling_price: Any, adjustment: Any = None) -> Decimal:
    """What one unit of a cart or order line costs, on every path (product
    page ``price``, cart, checkout, direct orders, emails, price drops): the
    product's selling price (``Product.price``: base price less its discount)
    plus the variation's adjustment (none: 0), never below zero. SQL twin:
    ``line_unit_price(price, adjustment)`` (migration 0013); a test checks
    they agree."""
    adjustment = Decimal(0) if adjustment is None else Decimal(str(adjustment))
    return max(money(Decimal(str(selling_price)) + adjustment), Decimal("0.00"))


class Category(BaseModel):
    name = pw.CharField(max_length=100)
    slug = pw.CharField(max_length=120, unique=True)
    parent = pw.ForeignKeyField("self", null=True, backref="children", on_delete="SET NULL", index=True)
    description = pw.TextField(default="")
    created_at = pw.DateTimeField(default=utcnow)


class Tag(BaseModel):
    name = pw.CharField(max_length=50, unique=True)
    slug = pw.CharField(max_length=60, unique=True)


class Size(BaseModel):
    name = pw.CharField(max_length=50, unique=True)


class Color(BaseModel):
    name = pw.CharField(max_length=50, unique=True)
    hex_code = pw.CharField(max_length=7, default="#000000")


class Product(BaseModel):
    name = pw.CharField(max_length=255)
    slug = pw.CharField(max_length=280, unique=True)
    description = pw.TextField(default="")
    product_details = BinaryJSONField(default=list, index=False)
    category = pw.ForeignKeyField(Category, null=True, backref="products", on_delete="SET NULL")
    base_price = MoneyField()
    discount_type = pw.CharField(max_length=10, null=True)
    discount_value = MoneyField(null=True)  # a percentage or an amount, per discount_type
    price = MoneyField(null=True)  # GENERATED: base_price less discount
    vat_amount = MoneyField(null=True)
    sku = pw.CharField(max_length=64, unique=True)
    barcode = pw.CharField(max_length=64, null=True)
    stock_quantity = pw.IntegerField(default=0)
    status = pw.CharField(max_length=10, default="draft")
    is_featured = pw.BooleanField(default=False)
    is_physical_product = pw.BooleanField(default=True)
    weight = pw.DecimalField(max_digits=10, decimal_places=2, null=True)
    height = pw.DecimalField(max_digits=10, decimal_places=2, null=True)
    length = pw.DecimalField(max_digits=10, decimal_places=2, null=True)
    width = pw.DecimalField(max_digits=10, decimal_places=2, null=True)
    main_image = pw.CharField(max_length=1000, null=True)  # URL
    # Shipping and stock policy (migrations/0023; rules in models/catalog/stock_policy.py).
    # weight is in kg, height/length/width in cm (the shipping rates' bands).
    is_bulky = pw.BooleanField(default=False)
    stock_policy = pw.CharField(max_length=15, default="deny")
    backorder_limit = pw.IntegerField(default=0)
    restock_date = pw.DateField(null=True)
    lead_time_days = pw.IntegerField(default=0)
    backordered = pw.IntegerField(default=0)  # units sold beyond the shelf, not yet covered
    rating = pw.DecimalField(max_digits=3, decimal_places=2, default=0)
    num_ratings = pw.IntegerField(default=0)
    search_vector = TSVectorField(null=True)  # TRIGGER: name, sku, description, category
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    @classmethod
    def visible(cls) -> pw.ModelSelect:
        """What shoppers may see."""
        return cls.select().where(cls.status == "published")


class ProductTag(BaseModel):
    product = pw.ForeignKeyField(Product, on_delete="CASCADE")
    tag = pw.ForeignKeyField(Tag, on_delete="CASCADE", index=True)

    class Meta:
        primary_key = pw.CompositeKey("product", "tag")


class ProductImage(BaseModel):
    product = pw.ForeignKeyField(Product, backref="images", on_delete="CASCADE", index=True)
    image = pw.CharField(max_length=500)  # storage key: local path or "cloudinary:<public_id>"
    image_url = pw.CharField(max_length=1000)
    is_main = pw.BooleanField(default=False)
    position = pw.IntegerField(default=0)
    created_at = pw.DateTimeField(default=utcnow)


class ProductVariation(BaseModel):
    product = pw.ForeignKeyField(Product, backref="variations", on_delete="CASCADE", index=True)
    variation_type = pw.CharField(max_length=50, default="")
    variation = pw.CharField(max_length=100, default="")
    price_adjustment = MoneyField(default=0)
    stock_quantity = pw.IntegerField(default=0)
    backordered = pw.IntegerField(default=0)  # units owed under its effective stock policy (0023)
    # Its own stock policy terms (migrations/0027); NULL inherits the product's
    # (models/catalog/stock_policy.py effective_terms, SQL stock_terms(p, v)).
    stock_policy = pw.CharField(max_length=15, null=True)
    backorder_limit = pw.IntegerField(null=True)
    restock_date = pw.DateField(null=True)
    lead_time_days = pw.IntegerField(null=True)
    sku = pw.CharField(max_length=64, null=True, unique=True)
    is_default = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=utcnow)


class VariationSize(BaseModel):
    variation = pw.ForeignKeyField(ProductVariation, on_delete="CASCADE")
    size = pw.ForeignKeyField(Size, on_delete="CASCADE", index=True)

    class Meta:
        primary_key = pw.CompositeKey("variation", "size")


class VariationColor(BaseModel):
    variation = pw.ForeignKeyField(ProductVariation, on_delete="CASCADE")
    color = pw.ForeignKeyField(Color, on_delete="CASCADE", index=True)

    class Meta:
        primary_key = pw.CompositeKey("variation", "color")


class ProductView(BaseModel):
    product = pw.ForeignKeyField(Product, on_delete="CASCADE", index=True)
    user = pw.ForeignKeyField(User, null=True, on_delete="CASCADE", index=True)
    viewed_at = pw.DateTimeField(default=utcnow, index=True)


class ProductRecommendation(BaseModel):
    """Precomputed by a Celery task: products bought together (complementary)."""

    product = pw.ForeignKeyField(Product, on_delete="CASCADE")
    recommended = pw.ForeignKeyField(Product, on_delete="CASCADE")
    kind = pw.CharField(max_length=20, default="complementary")
    score = pw.FloatField(default=0)

    class Meta:
        indexes = ((("product", "kind", "recommended"), True),)


class ReviewTag(BaseModel):
    """Labels a reviewer can attach ("High Quality", "Good Value")."""

    name = pw.CharField(max_length=50, unique=True)
    slug = pw.CharField(max_length=60, unique=True)


class Review(BaseModel):
    product = pw.ForeignKeyField(Product, backref="reviews", on_delete="CASCADE")
    user = pw.ForeignKeyField(User, backref="reviews", on_delete="CASCADE", index=True)
    variant = pw.ForeignKeyField(ProductVariation, null=True, on_delete="SET NULL")
    rating = pw.SmallIntegerField()
    content = pw.TextField(default="")
    is_verified_purchase = pw.BooleanField(default=False)
    helpful_count = pw.IntegerField(default=0)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("product", "user"), True),)


class ReviewTagLink(BaseModel):
    review = pw.ForeignKeyField(Review, on_delete="CASCADE")
    tag = pw.ForeignKeyField(ReviewTag, on_delete="CASCADE", index=True)

    class Meta:
        primary_key = pw.CompositeKey("review", "tag")


class ReviewImage(BaseModel):
    review = pw.ForeignKeyField(Review, backref="images", on_delete="CASCADE", index=True)
    image_url = pw.CharField(max_length=1000)


class ReviewHelpful(BaseModel):
    review = pw.ForeignKeyField(Review, on_delete="CASCADE")
    user = pw.ForeignKeyField(User, on_delete="CASCADE", index=True)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        primary_key = pw.CompositeKey("review", "user")


# --- typed attributes (migration 0024; models/catalog/attributes.py) -------------------

ATTRIBUTE_KINDS = ("choice", "number")


class Attribute(BaseModel):
    """A property shoppers filter on: ``choice`` (values: material, colour) or
    ``number`` (a measure with a unit: width in cm)."""

    name = pw.CharField(max_length=100)
    slug = pw.CharField(max_length=60, unique=True)
    kind = pw.CharField(max_length=10)
    unit = pw.CharField(max_length=20, default="")
    position = pw.IntegerField(default=0)
    created_at = pw.DateTimeField(default=utcnow)


class AttributeValue(BaseModel):
    attribute = pw.ForeignKeyField(Attribute, backref="values", on_delete="CASCADE")
    value = pw.CharField(max_length=100)
    slug = pw.CharField(max_length=120)
    position = pw.IntegerField(default=0)

    class Meta:
        table_name = "attribute_value"
