"""Factories of the storefront catalog tests (test_store_products.py,
test_store_reviews.py, domain/test_catalog_queries.py)."""
from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from decimal import Decimal

import pytest

from models.catalog.tables import (Category, Color, Product, ProductImage, ProductTag, ProductVariation, ReviewTag,
                                   Size, Tag, VariationColor, VariationSize)
from models.core.db import db, utcnow
from tests.conftest import assert_envelope  # noqa: E402,F401

_seq = itertools.count(1)

ITEM_FIELDS = {"id", "name", "slug", "description", "price", "category", "category_name", "images", "main_image",
               "stock_quantity", "is_featured", "is_physical_product", "sku", "status", "rating", "num_ratings",
               "is_liked", "product_details", "created_at", "updated_at"}
DETAIL_FIELDS = ITEM_FIELDS | {"variations", "tags", "base_price", "discount_type", "discount_percentage"}


async def category(name: str, parent: int | None = None) -> int:
    n = next(_seq)
    return (await Category.aio_create(name=name, slug=f"{name.lower().replace(' ', '-')}-{n}", parent=parent)).id


async def product(name: str = "Product", *, category: int | None = None, status: str = "published",
                  stock: int = 20, base_price: str = "100.00", discount_type: str | None = None,
                  discount_value: str | None = None, images: int = 0, description: str = "",
                  created_at: dt.datetime | None = None, **extra) -> int:
    """A product (``price`` is computed by PostgreSQL from the discount)."""
    n = next(_seq)
    now = created_at or utcnow()
    created = await Product.aio_create(
        name=name, slug=f"{name.lower().replace(' ', '-')}-{n}", sku=f"SKU-{n:05d}", description=description,
        product_details=["Feature 1"], category=category, base_price=Decimal(base_price),
        discount_type=discount_type, discount_value=Decimal(discount_value) if discount_value else None,
        stock_quantity=stock, status=status, created_at=now, updated_at=now, **extra)
    if images:
        await ProductImage.insert_many(
            [(created.id, f"p/{created.id}-{i}.jpg", f"http://testserver/media/p/{created.id}-{i}.jpg", i == 0, i)
             for i in range(images)],
            fields=[ProductImage.product, ProductImage.image, ProductImage.image_url, ProductImage.is_main,
                    ProductImage.position]).aio_execute()
    return created.id


async def products(count: int, name: str = "Item", **kw) -> list[int]:
    return [await product(f"{name} {i}", **kw) for i in range(count)]


async def tag(name: str) -> int:
    return (await Tag.aio_create(name=name, slug=name.lower().replace(" ", "-"))).id


async def review_tag(name: str) -> int:
    return (await ReviewTag.aio_create(name=name, slug=name.lower().replace(" ", "-"))).id


async def tag_product(product_id: int, *tag_ids: int) -> None:
    await ProductTag.insert_many([(product_id, t) for t in tag_ids],
                                 fields=[ProductTag.product, ProductTag.tag]).aio_execute()


async def variation(product_id: int, value: str, *, kind: str = "Color", adjustment: str = "0.00",
                    stock: int = 5, is_default: bool = False, sizes: tuple[str, ...] = (),
                    colors: tuple[tuple[str, str], ...] = ()) -> int:
    n = next(_seq)
    v = await ProductVariation.aio_create(product=product_id, variation_type=kind, variation=value,
                                          price_adjustment=Decimal(adjustment), stock_quantity=stock,
                                          sku=f"VAR-{n:05d}", is_default=is_default)
    for name in sizes:
        size = await Size.aio_get_or_none(Size.name == name) or await Size.aio_create(name=name)
        await VariationSize.insert(variation=v.id, size=size.id).aio_execute()
    for name, hex_code in colors:
        color = await Color.aio_get_or_none(Color.name == name) or await Color.aio_create(name=name, hex_code=hex_code)
        await VariationColor.insert(variation=v.id, color=color.id).aio_execute()
    return v.id


# --- orders, until the orders module exists ---------------------------------------

async def _scalar(sql, params=()):
    async def fetch(_db, cursor):
        return (await cursor.fetchone())[0]

    return await db.aio_execute_sql(sql, params, fetch_results=fetch)


@contextlib.asynccontextmanager
async def fake_orders():
    """Kept for the catalog tests written before orders existed: the real
    order tables (migrations/0008_orders.sql) are always there now."""
    yield


async def place(user_id, product_ids, status="PENDING", payment_status="PENDING") -> None:
    """A bare order of one unit of each product (no stock taken)."""
    order_id = await _scalar("INSERT INTO orders (user_id, status, payment_status) VALUES (%s, %s, %s) RETURNING id",
                             [user_id, status, payment_status])
    for pid in product_ids:
        await db.aio_execute_sql("INSERT INTO order_item (order_id, product_id, product_name, quantity, unit_price, "
                                 "total_price) VALUES (%s, %s, 'x', 1, 1, 1)", [order_id, pid])
