"""Shared helpers of the staff catalog tests (test_admin_*.py)."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from models.catalog.tables import Category, Color, Product, Size, Tag
from models.core.db import utcnow
from tests.conftest import assert_envelope  # noqa: E402,F401


def png_bytes(size=(8, 8), color=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(size=(8, 8), color=(30, 200, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG")
    return buf.getvalue()


async def make_category(name: str, slug: str | None = None, parent: int | None = None) -> int:
    return await Category.insert(name=name, slug=slug or name.lower().replace(" ", "-"), parent=parent,
                                 description="", created_at=utcnow()).aio_execute()


async def make_tag(name: str) -> int:
    return await Tag.insert(name=name, slug=name.lower().replace(" ", "-")).aio_execute()


async def make_size(name: str) -> int:
    return await Size.insert(name=name).aio_execute()


async def make_color(name: str, hex_code: str) -> int:
    return await Color.insert(name=name, hex_code=hex_code).aio_execute()


async def make_products(count: int, *, prefix: str = "Product", category: int | None = None,
                        status: str = "published", stock: int = 50, price: str = "10.00",
                        start: dt.datetime | None = None) -> list[int]:
    """Insert ``count`` products in one statement; the first is the newest."""
    start = start or utcnow()
    rows = [{
        "name": f"{prefix} {i:04d}", "slug": f"{prefix.lower().replace(' ', '-')}-{i:04d}",
        "sku": f"{prefix[:3].upper()}-{i:04d}", "description": "", "product_details": [],
        "category": category, "base_price": Decimal(price), "stock_quantity": stock, "status": status,
        "is_featured": False, "is_physical_product": True, "rating": Decimal(0), "num_ratings": 0,
        "created_at": start - dt.timedelta(minutes=i), "updated_at": start - dt.timedelta(minutes=i),
    } for i in range(count)]
    created = await Product.insert_many(rows).returning(Product.id).aio_execute()
    return [p.id for p in created]


async def make_product(name: str, sku: str, *, category: int | None = None, status: str = "published",
                       stock: int = 50, base_price: str = "100.00", description: str = "",
                       created_at: dt.datetime | None = None, **extra) -> int:
    now = created_at or utcnow()
    return await Product.insert(
        name=name, slug=name.lower().replace(" ", "-") + "-" + sku.lower(), sku=sku, description=description,
        product_details=[], category=category, base_price=Decimal(base_price), stock_quantity=stock,
        status=status, is_featured=False, is_physical_product=True, rating=Decimal(0), num_ratings=0,
        created_at=now, updated_at=now, **extra).aio_execute()
