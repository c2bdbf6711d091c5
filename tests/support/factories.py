"""Factories: one per object the tests need (users, catalog rows, orders,
images), writing straight to the database (no HTTP), so a test sets up exactly
the rows it is about."""
from __future__ import annotations

import datetime as dt
import io
import itertools
from decimal import Decimal

from models.catalog.tables import (
    Category,
    Color,
    Product,
    ProductImage,
    ProductTag,
    ProductVariation,
    ReviewTag,
    Size,
    Tag,
    VariationColor,
    VariationSize,
)
from models.core.db import fetch_one, utcnow
from models.orders.tables import Order, OrderItem

_seq = itertools.count(1)

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
                    colors: tuple[tuple[str, str], ...] = (), **extra) -> int:
    """A variation; ``extra``: other columns, e.g. its own stock policy terms (None: the product's)."""
    n = next(_seq)
    v = await ProductVariation.aio_create(product=product_id, variation_type=kind, variation=value,
                                          price_adjustment=Decimal(adjustment), stock_quantity=stock,
                                          sku=f"VAR-{n:05d}", is_default=is_default, **extra)
    for name in sizes:
        size = await Size.aio_get_or_none(Size.name == name) or await Size.aio_create(name=name)
        await VariationSize.insert(variation=v.id, size=size.id).aio_execute()
    for name, hex_code in colors:
        color = await Color.aio_get_or_none(Color.name == name) or await Color.aio_create(name=name, hex_code=hex_code)
        await VariationColor.insert(variation=v.id, color=color.id).aio_execute()
    return v.id


# --- catalog rows as the staff tests make them (exact slugs and SKUs) ----------

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


# --- images ----------------------------------------------------------------------

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


# --- users ---------------------------------------------------------------------

def user_factory():
    """``await factory(email=..., password=..., is_staff=...)`` → a User with
    profile and customer; emails user1@, user2@… per factory (per test)."""
    from models.accounts import actions
    from models.accounts.passwords import hash_password
    from models.accounts.tables import User

    counter = {"n": 0}

    async def factory(email: str | None = None, password: str = "password123", is_staff: bool = False,
                      is_verified: bool = True, full_name: str = "Test User", **fields):
        counter["n"] += 1
        email = email or f"user{counter['n']}@example.com"
        user = await actions.create_account(email, await hash_password(password), full_name=full_name,
                                            is_verified=is_verified, is_staff=is_staff)
        if fields:
            await User.update(**fields).where(User.id == user.id).aio_execute()
        return await User.aio_get(User.id == user.id)

    return factory



# --- orders (the one way to make an order in tests) ---------------------------------

async def make_order(customer=None, total="100.00", status="PENDING", payment_status="PENDING",
                     created_at: dt.datetime | None = None, items: list[tuple[str, int, str]] | None = None,
                     user=None, products: list[int] = (), refunded: str | None = None) -> Order:
    """An order row and its items, inserted as placing one would (the database's
    triggers keep the rollups either way; no stock is taken). ``user`` is a User
    or an id; ``products``: one unit of each, at 1.00, as the order's items. A
    REFUNDED one gave all of its total back unless ``refunded`` says how much
    (a succeeded ``refund`` row on the order's day records it)."""
    created_at = created_at or utcnow()
    user_id = getattr(user, "id", user)
    refunded_amount = Decimal(refunded if refunded is not None else (total if payment_status == "REFUNDED" else 0))
    order_id = await Order.insert(
        user=user_id if user_id is not None else (customer.user_id if customer is not None else None),
        customer=customer.id if customer is not None else None,
        customer_name=customer.name if customer is not None else "Guest",
        customer_email=customer.email if customer is not None else "guest@example.com",
        status=status, payment_status=payment_status, subtotal=Decimal(total), total=Decimal(total),
        refunded_amount=refunded_amount,
        created_at=created_at, updated_at=created_at).aio_execute()
    if refunded_amount > 0 and payment_status in ("PARTIALLY_REFUNDED", "REFUNDED"):
        # Its refund, as the refund action records it (revenue goes down on the refund's day: here the order's).
        await record_refund(order_id, refunded_amount, created_at)
    for pid in products:
        await OrderItem.insert(order=order_id, product=pid, product_name="x", quantity=1, unit_price=Decimal(1),
                               total_price=Decimal(1)).aio_execute()
    for name, qty, price in items if items is not None else ([] if products else [("Chair", 1, total)]):
        await OrderItem.insert(order=order_id, product_name=name, quantity=qty, unit_price=Decimal(price),
                               total_price=Decimal(price) * qty).aio_execute()
    return await Order.aio_get(Order.id == order_id)


async def record_refund(order_id: int, amount: str | Decimal, created_at: dt.datetime | None = None) -> int:
    """A succeeded refund row, as the refund action leaves one (revenue goes down on its day)."""
    return (await fetch_one("INSERT INTO refund (order_id, amount, status, provider, created_at) "
                            "VALUES (%s, %s, 'succeeded', 'manual', %s) RETURNING id",
                            [order_id, Decimal(amount), created_at or utcnow()]))[0]


# --- reading back ---------------------------------------------------------------------

async def stock_of(product_id: int) -> int:
    return (await fetch_one("SELECT stock_quantity FROM product WHERE id = %s", [product_id]))[0]


async def variation_stock(variation_id: int) -> int:
    return (await fetch_one("SELECT stock_quantity FROM product_variation WHERE id = %s", [variation_id]))[0]


async def count(table: str, where: str = "TRUE", params=()) -> int:
    return (await fetch_one(f"SELECT count(*) FROM {table} WHERE {where}", list(params)))[0]
