"""The dashboard's product table: tabs, tab counts, filters and bulk actions.

Triggers (migrations/README.md): bulk status changes and deletes fire the
product triggers (see products.py): search re-index and change feed, tab
counts, catalog cache version.
"""
from __future__ import annotations

from typing import Any

import peewee as pw
from peewee import JOIN, fn

from models.catalog.admin.common import _plural
from models.catalog.admin.products import delete_products
from models.catalog.tables import LOW_STOCK_MAX, Category, Product, ProductVariation
from models.core.db import db, fetch_one, iso, money_number, utcnow
from models.core.errors import NotFound, ValidationFailed
from models.core.media import media_url

TABS = ("all", "published", "low_stock", "draft", "out_of_stock")
# Dashboard status: the publication status, except that a published product
# shows its stock problem (the spec's example: 10 in stock -> "low_stock").
STATUS_LABELS = {"published": "Published", "draft": "Draft", "archived": "Archived",
                 "low_stock": "Low Stock", "out_of_stock": "Out of Stock"}
STATUS_COLORS = {"published": "green", "draft": "gray", "archived": "gray",
                 "low_stock": "orange", "out_of_stock": "red"}
BULK_ACTIONS = {  # action -> (column changes or None for delete, past tense for the message)
    "delete": (None, "deleted"),
    "publish": ({"status": "published"}, "published"),
    "draft": ({"status": "draft"}, "moved to draft"),
    "feature": ({"is_featured": True}, "featured"),
    "unfeature": ({"is_featured": False}, "unfeatured"),
}


# --- bulk actions and counts -----------------------------------------------------------

async def bulk_update_status(ids: list[int], status: str) -> str:
    """Set ``status`` on products ``ids``; returns the message for the response."""
    count = await Product.update(status=status, updated_at=utcnow()).where(Product.id.in_(ids)).aio_execute() \
        if ids else 0
    return f"{_plural(count)} updated successfully"


async def bulk_action(action: str, ids: list[int]) -> str:
    """Apply a dashboard bulk action (see BULK_ACTIONS); returns the message."""
    changes, done = BULK_ACTIONS[action]
    if changes is None:
        count = await delete_products(ids)
    else:
        count = await Product.update(**changes, updated_at=utcnow()).where(Product.id.in_(ids)).aio_execute()
    return f"{_plural(count)} {done} successfully"


def _tab_filter(tab: str) -> pw.Expression | None:
    return {
        "all": None,
        "published": Product.status == "published",
        "draft": Product.status == "draft",
        "low_stock": Product.stock_quantity.between(1, LOW_STOCK_MAX),
        "out_of_stock": Product.stock_quantity == 0,
    }[tab]


# product_count's rows (per category, status and stock band; migrations 0003
# and 0007) in each dashboard tab: counts without reading the products.
_TAB_COUNT_ROWS = {"all": "TRUE", "published": "status = 'published'", "draft": "status = 'draft'",
                   "low_stock": "band = 1", "out_of_stock": "band = 0"}


async def tab_counts() -> dict[str, int]:
    """Products per dashboard tab, in one query over the trigger-kept counts."""
    row = await fetch_one("SELECT " + ", ".join(f"coalesce(sum(n) FILTER (WHERE {_TAB_COUNT_ROWS[t]}), 0)"
                                                for t in TABS) + " FROM product_count")
    return dict(zip(TABS, row))


async def _count_products(filters: dict[str, str], query: pw.ModelSelect) -> int:
    """How many products the dashboard filters select: from product_count unless
    searching (then the matching rows are counted)."""
    if filters.get("search"):
        return await query.aio_count(db)
    where, params = [_TAB_COUNT_ROWS[filters.get("tab") or "all"]], []
    category = filters.get("category")
    if category:
        where.append("category_id IN (SELECT id FROM category WHERE slug = %s OR id = %s)")
        params += [category, int(category) if category.isascii() and category.isdigit() and int(category) < 2**31 else 0]
    row = await fetch_one(f"SELECT coalesce(sum(n), 0) FROM product_count WHERE {' AND '.join(where)}", params)
    return int(row[0])


def check_tab(tab: str | None) -> str:
    tab = (tab or "all").strip().lower()
    if tab not in TABS:
        raise ValidationFailed(errors={"tab": [f'"{tab}" is not a valid choice.']}, valid_tabs=list(TABS))
    return tab


def clean_product_filters(params: dict[str, Any]) -> dict[str, str]:
    """The dashboard/export filters (tab, search, category slug), validated."""
    return {"tab": check_tab(params.get("tab")), "search": (params.get("search") or "").strip(),
            "category": (params.get("category") or "").strip()}


def filtered_products(filters: dict[str, str], *fields: Any) -> pw.ModelSelect:
    """Products (joined to their category) matching the dashboard filters, newest first."""
    query = (Product.select(*fields).join(Category, JOIN.LEFT_OUTER, on=(Product.category == Category.id))
             .order_by(Product.created_at.desc(), Product.id.desc()))
    condition = _tab_filter(filters.get("tab") or "all")
    if condition is not None:
        query = query.where(condition)
    search = filters.get("search")
    if search:
        query = query.where(Product.name.contains(search) | Product.sku.contains(search)
                            | Category.name.contains(search))
    category = filters.get("category")
    if category:
        query = query.where((Category.slug == category) | (
            Category.id == int(category) if category.isascii() and category.isdigit() else pw.SQL("false")))
    return query


def display_status(status: str, stock: int) -> str:
    if status != "published":
        return status
    if stock <= 0:
        return "out_of_stock"
    if stock <= LOW_STOCK_MAX:
        return "low_stock"
    return "published"


def stock_state(stock: int) -> tuple[str, str, str]:
    if stock <= 0:
        return "out_of_stock", "Out of Stock", "red"
    if stock <= LOW_STOCK_MAX:
        return "low_stock", "Low Stock", "orange"
    return "in_stock", "In Stock", "green"


async def dashboard_products(filters: dict[str, str], page: int, page_size: int) -> dict[str, Any]:
    """The dashboard's product table: three queries whatever the page size.

    Raises NotFound for a page past the end.
    """
    variant_count = (ProductVariation.select(fn.COUNT(ProductVariation.id))
                     .where(ProductVariation.product == Product.id))
    query = filtered_products(
        filters, Product.id, Product.name, Product.sku, Product.category, Category.name.alias("category_name"),
        Product.stock_quantity, Product.price, Product.status, Product.created_at, Product.updated_at,
        Product.main_image, Product.is_featured, Product.rating, Product.num_ratings,
        variant_count.alias("variant_count"))
    total = await _count_products(filters, query)
    pages = max(1, -(-total // page_size))
    if page > pages:
        raise NotFound("Invalid page.")
    # The page's ids first (from the ordering's index), then only those rows in full.
    page_ids = filtered_products(filters, Product.id).paginate(page, page_size)
    rows = await query.where(Product.id.in_(page_ids)).dicts().aio_execute()
    products = []
    for r in rows:
        status = display_status(r["status"], r["stock_quantity"])
        stock_status, stock_label, stock_color = stock_state(r["stock_quantity"])
        products.append({
            "id": r["id"],
            "name": r["name"],
            "sku": r["sku"],
            "category": r["category_name"],
            "category_id": r["category"],
            "variants": f"{r['variant_count']} Variant" + ("" if r["variant_count"] == 1 else "s"),
            "variant_count": r["variant_count"],
            "stock_quantity": r["stock_quantity"],
            "stock_status": stock_status,
            "stock_label": stock_label,
            "stock_color": stock_color,
            "price": money_number(r["price"]),
            "status": status,
            "status_color": STATUS_COLORS.get(status, "gray"),
            "created_at": r["created_at"].strftime("%d %b %Y"),  # the spec's display dates,
            "updated_at": r["updated_at"].strftime("%d %b %Y"),
            "created_at_iso": iso(r["created_at"]),  # and the timestamps, ISO 8601 UTC
            "updated_at_iso": iso(r["updated_at"]),
            "main_image": media_url(r["main_image"]),
            "is_featured": r["is_featured"],
            "rating": money_number(r["rating"]),
            "num_ratings": r["num_ratings"],
        })
    return {
        "products": products,
        "pagination": {
            "current_page": page,
            "total_pages": pages,
            "total_count": total,
            "page_size": page_size,
            "has_next": page < pages,
            "has_previous": page > 1,
        },
        "filters": {"tab": filters["tab"], "search": filters["search"], "category": filters["category"]},
        "tab_counts": await tab_counts(),
    }
