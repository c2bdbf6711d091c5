"""Staff use cases for the catalog: products with nested variations, images,
categories/tags/sizes/colors, bulk actions, tab counts, the dashboard's
product table, the order form's product search and the products CSV export.

Rules kept here (handlers only validate shapes):
- ``Product.price`` and ``Product.search_vector`` are maintained by PostgreSQL;
  products are written with ``insert``/``update`` queries only, never ``save``.
- Every write is one transaction; a ValidationFailed leaves nothing changed.
- Lists and payloads are built with a fixed number of queries, never one per row.
"""
from __future__ import annotations

import contextlib
import re
import unicodedata
from decimal import Decimal
from typing import Any, AsyncIterator, Iterable

import peewee as pw
from peewee import JOIN, fn

from models import exports
from models.catalog.tables import (
    LOW_STOCK_MAX,
    Category,
    Color,
    Product,
    ProductImage,
    ProductTag,
    ProductVariation,
    Size,
    Tag,
    VariationColor,
    VariationSize,
    variation_price,
)
from models.db import db, fetch_one, iso, money, money_number, transaction, utcnow
from models.errors import AppError, NotFound, ValidationFailed
from models.jobs import enqueue
from models.media import cloudinary_enabled, delete_local, store_image

IMAGE_MAX_BYTES = 5 * 1024 * 1024
STATUS_DISPLAY = {"draft": "Draft", "published": "Published", "archived": "Archived"}
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
CATEGORY_TREE_LOCK = 7_246_813  # advisory lock id: category parent changes
SEARCH_MIN_CHARS = 2
SEARCH_LIMIT = 10

# Request field -> product column (only where the names differ).
_COLUMN = {"discount_percentage": "discount_value"}
_SCALARS = ("name", "description", "product_details", "category", "base_price", "discount_type",
            "discount_percentage", "vat_amount", "sku", "barcode", "stock_quantity", "status", "is_featured",
            "is_physical_product", "weight", "height", "length", "width")


def _plural(count: int, word: str = "product") -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _missing_pk(ids: Iterable[int]) -> str:
    return "Invalid pk " + ", ".join(f'"{i}"' for i in ids) + " - object does not exist."


def _constraint(exc: pw.IntegrityError) -> str:
    """The name of the constraint an IntegrityError violated ("" if unknown)."""
    orig = exc.args[0] if exc.args else None
    diag = getattr(orig, "diag", None)
    return (getattr(diag, "constraint_name", None) or "") if diag is not None else ""


# --- slugs ---------------------------------------------------------------------

def slugify(text: str, max_length: int = 100) -> str:
    value = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value.lower())
    value = re.sub(r"[-\s_]+", "-", value).strip("-")
    return value[:max_length].strip("-") or "item"


async def unique_slug(model: type[pw.Model], name: str, exclude_id: int | None = None) -> str:
    """A slug for ``name`` not yet used in ``model`` (``name``, ``name-2``, ...)."""
    base = slugify(name, model.slug.max_length - 8)
    query = model.select(model.slug).where((model.slug == base) | model.slug.startswith(base + "-"))
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    taken = {row[0] for row in await query.tuples().aio_execute()}
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


async def _insert_with_slug(model: type[pw.Model], name: str, fields: dict[str, Any],
                            on_conflict: dict[str, tuple[str, str]] | None = None) -> int:
    """Insert a row with a fresh unique slug; retries when a concurrent insert took it.

    ``on_conflict`` maps other unique constraints to (field, message) for a 400.
    """
    for _attempt in range(5):
        slug = await unique_slug(model, name)
        try:
            async with db.aio_atomic():
                return await model.insert(slug=slug, **fields).aio_execute()
        except pw.IntegrityError as exc:
            name_ = _constraint(exc)
            if name_ == f"{model._meta.table_name}_slug":
                continue
            if on_conflict and name_ in on_conflict:
                field, message = on_conflict[name_]
                raise ValidationFailed.field(field, message) from None
            raise
    raise AppError("Could not generate a unique slug; try again.")


# --- product payloads ------------------------------------------------------------

_PRODUCT_FIELDS = [f for f in Product._meta.sorted_fields if f.name != "search_vector"]


async def management_payloads(ids: list[int]) -> dict[int, dict[str, Any]]:
    """The management shape of products ``ids``, in at most six queries."""
    if not ids:
        return {}
    rows = await (Product.select(*_PRODUCT_FIELDS, Category.name.alias("category_name"))
                  .join(Category, JOIN.LEFT_OUTER, on=(Product.category == Category.id))
                  .where(Product.id.in_(ids)).dicts().aio_execute())
    tags: dict[int, list[int]] = {}
    for product_id, tag_id in await (ProductTag.select(ProductTag.product, ProductTag.tag)
                                     .where(ProductTag.product.in_(ids))
                                     .order_by(ProductTag.tag).tuples().aio_execute()):
        tags.setdefault(product_id, []).append(tag_id)
    images: dict[int, list[dict]] = {}
    for img in await (ProductImage.select().where(ProductImage.product.in_(ids))
                      .order_by(ProductImage.position, ProductImage.id).dicts().aio_execute()):
        images.setdefault(img["product"], []).append(img)
    variations: dict[int, list[dict]] = {}
    var_ids = []
    for var in await (ProductVariation.select().where(ProductVariation.product.in_(ids))
                      .order_by(ProductVariation.id).dicts().aio_execute()):
        variations.setdefault(var["product"], []).append(var)
        var_ids.append(var["id"])
    sizes: dict[int, list[dict]] = {}
    colors: dict[int, list[dict]] = {}
    if var_ids:
        for var_id, size_id, name in await (VariationSize.select(VariationSize.variation, Size.id, Size.name)
                                            .join(Size).where(VariationSize.variation.in_(var_ids))
                                            .order_by(Size.id).tuples().aio_execute()):
            sizes.setdefault(var_id, []).append({"id": size_id, "name": name})
        for var_id, color_id, name, hex_code in await (
                VariationColor.select(VariationColor.variation, Color.id, Color.name, Color.hex_code)
                .join(Color).where(VariationColor.variation.in_(var_ids))
                .order_by(Color.id).tuples().aio_execute()):
            colors.setdefault(var_id, []).append({"id": color_id, "name": name, "hex_code": hex_code})
    return {row["id"]: _management_payload(row, tags.get(row["id"], []), images.get(row["id"], []),
                                           variations.get(row["id"], []), sizes, colors) for row in rows}


def _management_payload(p: dict, tags: list[int], images: list[dict], variations: list[dict],
                        sizes: dict[int, list[dict]], colors: dict[int, list[dict]]) -> dict[str, Any]:
    var_out = []
    available_sizes: dict[int, dict] = {}
    available_colors: dict[int, dict] = {}
    for v in variations:
        v_sizes, v_colors = sizes.get(v["id"], []), colors.get(v["id"], [])
        for s in v_sizes:
            available_sizes.setdefault(s["id"], s)
        for c in v_colors:
            available_colors.setdefault(c["id"], c)
        var_out.append({
            "id": v["id"],
            "variation_type": v["variation_type"],
            "variation": v["variation"],
            "price_adjustment": v["price_adjustment"],
            "stock_quantity": v["stock_quantity"],
            "sku": v["sku"],
            "is_default": v["is_default"],
            "final_price": money_number(variation_price(p["base_price"], v["price_adjustment"])),
            "sizes": v_sizes,
            "colors": v_colors,
        })
    urls = [img["image_url"] for img in images]
    return {
        "id": p["id"],
        "name": p["name"],
        "description": p["description"],
        "product_details": p["product_details"] or [],
        "category": p["category"],
        "category_name": p["category_name"],
        "tags": tags,
        "status": p["status"],
        "status_display": STATUS_DISPLAY.get(p["status"], p["status"].title()),
        "main_image": p["main_image"],
        "images": urls,
        "is_featured": p["is_featured"],
        "is_liked": False,
        "available_sizes": sorted(available_sizes.values(), key=lambda s: s["id"]),
        "available_colors": sorted(available_colors.values(), key=lambda c: c["id"]),
        "base_price": p["base_price"],
        "discount_type": p["discount_type"],
        "discount_percentage": p["discount_value"],
        "vat_amount": p["vat_amount"],
        "sku": p["sku"],
        "barcode": p["barcode"],
        "stock_quantity": p["stock_quantity"],
        "variations": var_out,
        "is_physical_product": p["is_physical_product"],
        "weight": p["weight"],
        "height": p["height"],
        "length": p["length"],
        "width": p["width"],
        "created_at": iso(p["created_at"]),
        "added_date_formatted": p["created_at"].strftime("%d %b %Y"),
        "variants_count": len(var_out),
        "all_images": {
            "main_image": p["main_image"],
            "gallery": [{"id": img["id"], "image_url": img["image_url"], "is_main": img["is_main"]}
                        for img in images],
        },
        "price": p["price"],
        "slug": p["slug"],
        "updated_at": iso(p["updated_at"]),
    }


async def load_product_payload(product_id: int) -> dict[str, Any]:
    payload = (await management_payloads([product_id])).get(product_id)
    if payload is None:
        raise NotFound("Product not found.")
    return payload


# --- create / update / delete products ----------------------------------------------

async def create_product(data: dict[str, Any]) -> dict[str, Any]:
    """Create a product with its tags and variations; returns the management payload.

    ``data`` holds validated request fields (see handlers/catalog_admin.py).
    Raises ValidationFailed for unknown category/tag/size/color ids, a taken SKU
    (product or variation), more than one default variation or a percentage
    discount above 100; nothing is written then.
    """
    await _check_product(data, product_id=None, current=None)
    now = utcnow()
    columns = {_COLUMN.get(k, k): data[k] for k in _SCALARS if k in data}
    async with transaction():
        try:
            product_id = await _insert_with_slug(
                Product, data["name"], {**columns, "created_at": now, "updated_at": now},
                on_conflict={"product_sku": ("sku", "Product with this SKU already exists.")})
            await _set_tags(product_id, data.get("tags") or [], replace=False)
            await _replace_variations(product_id, data.get("variations") or [], existing=set())
        except pw.IntegrityError as exc:
            raise _integrity_to_validation(exc) from None
    return await load_product_payload(product_id)


async def update_product(product_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Set the fields in ``data`` on product ``product_id`` (a PUT passes every
    field, defaults included; a PATCH only those sent). ``tags`` and
    ``variations``, when given, replace the product's: variation items whose
    ``id`` is one of this product's variations are updated in place, others
    created, and the ones not listed deleted. The slug stays.

    Raises NotFound, or ValidationFailed as create_product does (nothing changed).
    """
    current = await Product.select(Product.id, Product.discount_type, Product.discount_value).where(
        Product.id == product_id).dicts().aio_execute()
    if not current:
        raise NotFound("Product not found.")
    await _check_product(data, product_id=product_id, current=current[0])
    columns = {_COLUMN.get(k, k): data[k] for k in _SCALARS if k in data}
    if not columns and "tags" not in data and "variations" not in data:
        return await load_product_payload(product_id)  # an empty PATCH changes nothing, not even updated_at
    async with transaction():
        locked = await Product.select(Product.id).where(Product.id == product_id).for_update().aio_execute()
        if not locked:
            raise NotFound("Product not found.")
        try:
            async with db.aio_atomic():
                await Product.update(**columns, updated_at=utcnow()).where(Product.id == product_id).aio_execute()
                if "tags" in data:
                    await _set_tags(product_id, data["tags"] or [], replace=True)
                if "variations" in data:
                    existing = {r[0] for r in await ProductVariation.select(ProductVariation.id).where(
                        ProductVariation.product == product_id).tuples().aio_execute()}
                    await _replace_variations(product_id, data["variations"] or [], existing)
        except pw.IntegrityError as exc:
            raise _integrity_to_validation(exc) from None
    return await load_product_payload(product_id)


def _integrity_to_validation(exc: pw.IntegrityError) -> Exception:
    """Map a unique violation that slipped past the pre-checks (a race) to a 400."""
    name = _constraint(exc)
    if name == "product_sku":
        return ValidationFailed.field("sku", "Product with this SKU already exists.")
    if name == "product_variation_sku":
        return ValidationFailed.field("variations", "Product variation with this sku already exists.")
    if name == "product_variation_one_default":
        return ValidationFailed.field("variations", "Only one variation can be the default.")
    if name.startswith("product_") and "valid" in name:
        return ValidationFailed.field("non_field_errors", f"Invalid product data ({name}).")
    return exc


async def _check_product(data: dict[str, Any], product_id: int | None, current: dict | None) -> None:
    """Reference, uniqueness and cross-field checks; raises one ValidationFailed with every error."""
    errors: dict[str, list[str]] = {}
    category_id = data.get("category")
    if category_id is not None and not await Category.select().where(Category.id == category_id).aio_exists():
        errors["category"] = [_missing_pk([category_id])]
    tag_ids = set(data.get("tags") or [])
    if tag_ids:
        found = {r[0] for r in await Tag.select(Tag.id).where(Tag.id.in_(tag_ids)).tuples().aio_execute()}
        if tag_ids - found:
            errors["tags"] = [_missing_pk(sorted(tag_ids - found))]
    if data.get("sku") is not None:
        query = Product.select().where(Product.sku == data["sku"])
        if product_id is not None:
            query = query.where(Product.id != product_id)
        if await query.aio_exists():
            errors["sku"] = ["Product with this SKU already exists."]
    discount_type = data["discount_type"] if "discount_type" in data else (current or {}).get("discount_type")
    discount = data["discount_percentage"] if "discount_percentage" in data else (current or {}).get(
        "discount_value")
    if discount_type == "percentage" and discount is not None and discount > 100:
        errors["discount_percentage"] = ["Ensure this value is less than or equal to 100."]
    if "variations" in data:
        await _check_variations(data["variations"] or [], product_id, errors)
    if errors:
        raise ValidationFailed(errors=errors)


async def _check_variations(items: list[dict], product_id: int | None, errors: dict[str, list[str]]) -> None:
    if sum(1 for v in items if v.get("is_default")) > 1:
        errors.setdefault("variations", []).append("Only one variation can be the default.")
    size_ids = {i for v in items for i in v.get("size_ids") or []}
    color_ids = {i for v in items for i in v.get("color_ids") or []}
    found_sizes = {r[0] for r in await Size.select(Size.id).where(Size.id.in_(size_ids)).tuples()
                   .aio_execute()} if size_ids else set()
    found_colors = {r[0] for r in await Color.select(Color.id).where(Color.id.in_(color_ids)).tuples()
                    .aio_execute()} if color_ids else set()
    skus = [v["sku"] for v in items if v.get("sku")]
    taken: set[str] = set()
    if skus:
        query = ProductVariation.select(ProductVariation.sku).where(ProductVariation.sku.in_(skus))
        if product_id is not None:  # this product's own variations are rewritten, so may swap SKUs
            query = query.where(ProductVariation.product != product_id)
        taken = {r[0] for r in await query.tuples().aio_execute()}
    seen: set[str] = set()
    for i, v in enumerate(items):
        missing = sorted(set(v.get("size_ids") or []) - found_sizes)
        if missing:
            errors[f"variations.{i}.size_ids"] = [_missing_pk(missing)]
        missing = sorted(set(v.get("color_ids") or []) - found_colors)
        if missing:
            errors[f"variations.{i}.color_ids"] = [_missing_pk(missing)]
        sku = v.get("sku")
        if sku:
            if sku in taken or sku in seen:
                errors[f"variations.{i}.sku"] = ["Product variation with this sku already exists."]
            seen.add(sku)


async def _set_tags(product_id: int, tag_ids: list[int], replace: bool) -> None:
    if replace:
        await ProductTag.delete().where(ProductTag.product == product_id).aio_execute()
    unique = list(dict.fromkeys(tag_ids))
    if unique:
        await ProductTag.insert_many([{"product": product_id, "tag": t} for t in unique]).aio_execute()


async def _replace_variations(product_id: int, items: list[dict], existing: set[int]) -> None:
    """Make the product's variations exactly ``items`` (see update_product)."""
    keep = {v["id"] for v in items if v.get("id") in existing}
    if existing - keep:
        await ProductVariation.delete().where(ProductVariation.id.in_(existing - keep)).aio_execute()
    if keep:
        # Kept rows may swap SKUs or the default flag between them: clear both
        # first so the unique indexes never see a transient duplicate.
        await ProductVariation.update(sku=None, is_default=False).where(
            ProductVariation.id.in_(keep)).aio_execute()
        await VariationSize.delete().where(VariationSize.variation.in_(keep)).aio_execute()
        await VariationColor.delete().where(VariationColor.variation.in_(keep)).aio_execute()
    now = utcnow()
    new_rows, new_items, links = [], [], []
    for v in items:
        columns = {
            "variation_type": v.get("variation_type") or "",
            "variation": v.get("variation") or "",
            "price_adjustment": v.get("price_adjustment") if v.get("price_adjustment") is not None else Decimal(0),
            "stock_quantity": v.get("stock_quantity") or 0,
            "sku": v.get("sku") or None,
            "is_default": bool(v.get("is_default")),
        }
        if v.get("id") in keep:
            await ProductVariation.update(**columns).where(ProductVariation.id == v["id"]).aio_execute()
            links.append((v["id"], v))
        else:
            new_rows.append({**columns, "product": product_id, "created_at": now})
            new_items.append(v)
    if new_rows:
        created = await ProductVariation.insert_many(new_rows).returning(ProductVariation.id).aio_execute()
        links += [(row.id, v) for row, v in zip(created, new_items)]
    size_rows = [{"variation": vid, "size": s} for vid, v in links for s in dict.fromkeys(v.get("size_ids") or [])]
    color_rows = [{"variation": vid, "color": c} for vid, v in links
                  for c in dict.fromkeys(v.get("color_ids") or [])]
    if size_rows:
        await VariationSize.insert_many(size_rows).aio_execute()
    if color_rows:
        await VariationColor.insert_many(color_rows).aio_execute()


async def delete_product(product_id: int) -> None:
    """Delete a product (its variations, tags and images go with it). Raises NotFound."""
    if not await delete_products([product_id]):
        raise NotFound("Product not found.")


async def delete_products(ids: list[int]) -> int:
    """Delete products ``ids`` (unknown ids are skipped); returns how many went.

    Their locally stored image files are removed after the commit.
    """
    if not ids:
        return 0
    async with transaction():
        keys = [r[0] for r in await ProductImage.select(ProductImage.image).where(
            ProductImage.product.in_(ids)).tuples().aio_execute()]
        try:
            async with db.aio_atomic():
                count = await Product.delete().where(Product.id.in_(ids)).aio_execute()
        except pw.IntegrityError:
            raise AppError("Products that are referenced by orders cannot be deleted; archive them instead.",
                           {"product_ids": ["Referenced by existing records."]}) from None
    for key in keys:
        await delete_local(key)
    return count


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


async def tab_counts() -> dict[str, int]:
    """Products per dashboard tab, in one query."""
    def count_if(tab: str) -> pw.Node:
        return fn.COUNT(Product.id).filter(_tab_filter(tab))

    row = await Product.select(fn.COUNT(Product.id), *[count_if(t) for t in TABS[1:]]).tuples().aio_execute()
    return dict(zip(TABS, row[0]))


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
    total = await query.aio_count(db)
    pages = max(1, -(-total // page_size))
    if page > pages:
        raise NotFound("Invalid page.")
    rows = await query.paginate(page, page_size).dicts().aio_execute()
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
            "created_at": r["created_at"].strftime("%d %b %Y"),
            "updated_at": r["updated_at"].strftime("%d %b %Y"),
            "main_image": r["main_image"],
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


# --- the products CSV export -----------------------------------------------------

async def _export_rows(filters: dict[str, str]) -> AsyncIterator[list[list[Any]]]:
    query = filtered_products(filters, Product.name, Product.sku, Category.name, Product.price,
                              Product.stock_quantity, Product.status, Product.created_at).tuples()
    async with contextlib.aclosing(exports.fetch_batches(query)) as batches:
        async for batch in batches:
            yield [[name, sku, category or "", money(price), stock, STATUS_LABELS[display_status(status, stock)],
                    created.date().isoformat()]
                   for name, sku, category, price, stock, status, created in batch]


exports.register(exports.ExportKind(
    name="products",
    header=("Name", "SKU", "Category", "Price", "Stock", "Status", "Created"),
    rows=_export_rows,
    clean_filters=clean_product_filters,
    filename="products.csv",
))


# --- product search for the admin order form --------------------------------------------

async def search_for_order_form(q: str | None) -> list[dict[str, Any]]:
    """Up to 10 non-archived products whose name, SKU or description matches ``q``
    (typo-tolerant on the name through pg_trgm); [] when ``q`` is under 2 characters."""
    q = (q or "").strip()
    if len(q) < SEARCH_MIN_CHARS:
        return []
    # pg_trgm, both served by the GIN index on name ("%" doubled for psycopg2):
    # "name % q" whole-name similarity >= 0.3, "q <% name" word similarity >= 0.6.
    fuzzy = pw.Expression(Product.name, "%%", q) | pw.Expression(q, "<%%", Product.name)
    rank = pw.Case(None, [(Product.sku == q, 0), (Product.name.startswith(q), 1),
                          (Product.name.contains(q) | Product.sku.contains(q), 2)], 3)
    closeness = fn.GREATEST(fn.similarity(Product.name, q), fn.word_similarity(q, Product.name))
    rows = await (Product.select(Product.id, Product.name, Product.sku, Product.price, Product.stock_quantity,
                                 Product.main_image)
                  .where((Product.status != "archived")
                         & (Product.name.contains(q) | Product.sku.contains(q) | Product.description.contains(q)
                            | fuzzy))
                  .order_by(rank, closeness.desc(), Product.name, Product.id)
                  .limit(SEARCH_LIMIT).dicts().aio_execute())
    return [{"id": r["id"], "name": r["name"], "sku": r["sku"], "price": r["price"],
             "stock_quantity": r["stock_quantity"], "image": r["main_image"]} for r in rows]


# --- images -------------------------------------------------------------------------------

async def add_product_image(product_id: int, data: bytes) -> dict[str, Any]:
    """Store a JPG/PNG (at most 5 MB, checked by content) as an image of the
    product; the first one becomes the main image. With Cloudinary configured
    the file is copied there by a Celery task after the commit.

    Raises NotFound, or ValidationFailed (field ``image``) for a bad file.
    """
    if not await Product.select().where(Product.id == product_id).aio_exists():
        raise NotFound("Product not found.")
    stored = await store_image(data, "products", IMAGE_MAX_BYTES)
    try:
        async with transaction():
            product = await Product.select(Product.id, Product.main_image).where(
                Product.id == product_id).for_update().dicts().aio_execute()
            if not product:
                raise NotFound("Product not found.")
            count, last = (await ProductImage.select(fn.COUNT(ProductImage.id), fn.MAX(ProductImage.position))
                           .where(ProductImage.product == product_id).tuples().aio_execute())[0]
            is_main = count == 0 or product[0]["main_image"] is None
            if is_main:
                await ProductImage.update(is_main=False).where(ProductImage.product == product_id).aio_execute()
            image_id = await ProductImage.insert(product=product_id, image=stored.key, image_url=stored.url,
                                                 is_main=is_main, position=(last or 0) + 1 if count else 0,
                                                 created_at=utcnow()).aio_execute()
            changes: dict[str, Any] = {"updated_at": utcnow()}
            if is_main:
                changes["main_image"] = stored.url
            await Product.update(**changes).where(Product.id == product_id).aio_execute()
            if cloudinary_enabled():
                await enqueue("tasks.images.upload_image", "product", image_id, stored.key)
    except BaseException:
        await delete_local(stored.key)
        raise
    return {"success": True, "image_url": stored.url, "image_id": image_id}


async def remove_product_image(product_id: int, image_id: int) -> None:
    """Remove an image of the product; if it was the main image the next one
    (by position) takes its place, or none. Raises NotFound (also for another
    product's image)."""
    async with transaction():
        product = await Product.select(Product.id, Product.main_image).where(
            Product.id == product_id).for_update().dicts().aio_execute()
        rows = await ProductImage.select().where(
            (ProductImage.id == image_id) & (ProductImage.product == product_id)).dicts().aio_execute()
        if not product or not rows:
            raise NotFound("Image not found.")
        image = rows[0]
        await ProductImage.delete().where(ProductImage.id == image_id).aio_execute()
        changes: dict[str, Any] = {"updated_at": utcnow()}
        if image["is_main"] or product[0]["main_image"] == image["image_url"]:
            following = await (ProductImage.select(ProductImage.id, ProductImage.image_url)
                               .where(ProductImage.product == product_id)
                               .order_by(ProductImage.position, ProductImage.id).limit(1).tuples().aio_execute())
            if following:
                await ProductImage.update(is_main=True).where(ProductImage.id == following[0][0]).aio_execute()
            changes["main_image"] = following[0][1] if following else None
        await Product.update(**changes).where(Product.id == product_id).aio_execute()
    await delete_local(image["image"])


async def image_url_changed(old_url: str, new_url: str) -> None:
    """A stored image moved (to Cloudinary): products showing it as main image follow."""
    await Product.update(main_image=new_url).where(Product.main_image == old_url).aio_execute()


# --- categories, tags, sizes, colors --------------------------------------------------

def category_payload(c: dict) -> dict[str, Any]:
    return {"id": c["id"], "name": c["name"], "slug": c["slug"], "parent": c["parent"],
            "description": c["description"]}


async def list_categories() -> list[dict[str, Any]]:
    rows = await Category.select().order_by(Category.name, Category.id).dicts().aio_execute()
    return [category_payload(c) for c in rows]


async def get_category(category_id: int) -> dict[str, Any]:
    rows = await Category.select().where(Category.id == category_id).dicts().aio_execute()
    if not rows:
        raise NotFound("Category not found.")
    return category_payload(rows[0])


async def _check_parent(parent_id: int | None, category_id: int | None) -> None:
    if parent_id is None:
        return
    if not await Category.select().where(Category.id == parent_id).aio_exists():
        raise ValidationFailed.field("parent", _missing_pk([parent_id]))
    if category_id is None:
        return
    # Walk up from the new parent: meeting the category itself would close a loop.
    row = await fetch_one(
        "WITH RECURSIVE up(id, parent_id) AS ("
        " SELECT id, parent_id FROM category WHERE id = %s"
        " UNION SELECT c.id, c.parent_id FROM category c JOIN up ON c.id = up.parent_id)"
        " SELECT EXISTS (SELECT 1 FROM up WHERE id = %s)", (parent_id, category_id))
    if row[0]:
        raise ValidationFailed.field("parent", "A category cannot be its own parent or the child of its own "
                                               "subcategory.")


async def create_category(data: dict[str, Any]) -> dict[str, Any]:
    """Create a category with a unique slug from its name. Raises ValidationFailed (parent)."""
    await _check_parent(data.get("parent"), None)
    async with transaction():
        category_id = await _insert_with_slug(Category, data["name"], {
            "name": data["name"], "parent": data.get("parent"), "description": data.get("description") or "",
            "created_at": utcnow()})
    return await get_category(category_id)


async def update_category(category_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change name, parent or description (the slug stays, so links keep working).

    Raises NotFound, ValidationFailed (unknown parent, or a parent that would make a cycle).
    """
    await get_category(category_id)
    columns = {k: ("" if k == "description" and v is None else v) for k, v in changes.items()
               if k in ("name", "parent", "description")}
    if columns:
        async with transaction():
            if columns.get("parent") is not None:
                # Moves are serialised: two concurrent moves (A under B, B under A)
                # would each pass the check alone and make a loop together.
                await db.aio_execute_sql("SELECT pg_advisory_xact_lock(%s)", (CATEGORY_TREE_LOCK,))
                await _check_parent(columns["parent"], category_id)
            await Category.update(**columns).where(Category.id == category_id).aio_execute()
    return await get_category(category_id)


async def delete_category(category_id: int) -> None:
    """Delete a category; its products and subcategories lose it (SET NULL). Raises NotFound."""
    if not await Category.delete().where(Category.id == category_id).aio_execute():
        raise NotFound("Category not found.")


class _Taxonomy:
    """Tags, sizes and colors: named rows with a unique name (tags also a slug)."""

    def __init__(self, model: type[pw.Model], label: str, fields: tuple[str, ...]) -> None:
        self.model, self.label, self.fields = model, label, fields

    def payload(self, row: dict) -> dict[str, Any]:
        return {"id": row["id"], **{f: row[f] for f in self.fields}}

    async def list(self) -> list[dict[str, Any]]:
        order = self.model.id if self.model is Size else fn.LOWER(self.model.name)
        return [self.payload(r) for r in await self.model.select().order_by(order, self.model.id).dicts()
                .aio_execute()]

    async def get(self, row_id: int) -> dict[str, Any]:
        rows = await self.model.select().where(self.model.id == row_id).dicts().aio_execute()
        if not rows:
            raise NotFound(f"{self.label} not found.")
        return self.payload(rows[0])

    async def _check_name(self, name: str, exclude_id: int | None) -> None:
        query = self.model.select().where(fn.LOWER(self.model.name) == name.lower())
        if exclude_id is not None:
            query = query.where(self.model.id != exclude_id)
        if await query.aio_exists():
            raise ValidationFailed.field("name", f"{self.label} with this name already exists.")

    def _conflicts(self) -> dict[str, tuple[str, str]]:
        return {f"{self.model._meta.table_name}_name": ("name", f"{self.label} with this name already exists.")}

    async def create(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create a row; raises ValidationFailed when the name is taken (case-insensitively)."""
        await self._check_name(data["name"], None)
        columns = {k: v for k, v in data.items() if k in self.fields and k != "slug"}
        async with transaction():
            if "slug" in self.fields:
                row_id = await _insert_with_slug(self.model, data["name"], columns, on_conflict=self._conflicts())
            else:
                try:
                    async with db.aio_atomic():
                        row_id = await self.model.insert(**columns).aio_execute()
                except pw.IntegrityError as exc:
                    if _constraint(exc) in self._conflicts():
                        raise ValidationFailed.field(*self._conflicts()[_constraint(exc)]) from None
                    raise
        return await self.get(row_id)

    async def update(self, row_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the fields given (a tag keeps its slug). Raises NotFound, ValidationFailed."""
        await self.get(row_id)
        columns = {k: v for k, v in changes.items() if k in self.fields and k != "slug"}
        if "name" in columns:
            await self._check_name(columns["name"], row_id)
        if columns:
            try:
                async with transaction():
                    await self.model.update(**columns).where(self.model.id == row_id).aio_execute()
            except pw.IntegrityError as exc:
                if _constraint(exc) in self._conflicts():
                    raise ValidationFailed.field(*self._conflicts()[_constraint(exc)]) from None
                raise
        return await self.get(row_id)

    async def delete(self, row_id: int) -> None:
        if not await self.model.delete().where(self.model.id == row_id).aio_execute():
            raise NotFound(f"{self.label} not found.")


tags = _Taxonomy(Tag, "Tag", ("name", "slug"))
sizes = _Taxonomy(Size, "Size", ("name",))
colors = _Taxonomy(Color, "Color", ("name", "hex_code"))
