"""Products with nested variations: payloads, create, update, delete.

Triggers (migrations/README.md): a product write re-indexes search (0002/0007
product_search_vector, product_search_*, search_word_product_*, then the 0012
change feed every web process's index follows), moves the tab counts (0003/0007
product_count_*) and the catalog cache version (0003 catalog_version_product); a
stock or price change is a stock_movement row (0008) and, back from 0 or
cheaper, sends back-in-stock / price-drop emails to wishlists (0006
product_wishlist_notify, variation_wishlist_notify); tags re-index (0007
product_tag_*_reindex); attribute assignments move the catalog version (0024
catalog_version_product_attribute_*).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import peewee as pw
from peewee import JOIN

from models.catalog import attributes as product_attributes
from models.catalog.admin.common import SLUG_PATTERN, _constraint, _insert_with_slug, _missing_pk
from models.catalog.stock_policy import StockTerms, effective_terms
from models.catalog.tables import (
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
    line_unit_price,
    variation_price,
)
from models.core.db import db, fetch_all, iso, money_number, transaction, utcnow
from models.core.errors import AppError, NotFound, ValidationFailed
from models.core.media import delete_upload, media_url

STATUS_DISPLAY = {"draft": "Draft", "published": "Published", "archived": "Archived"}

# Request field -> product column (only where the names differ).
_COLUMN = {"discount_percentage": "discount_value"}
_SCALARS = ("name", "description", "product_details", "category", "base_price", "discount_type",
            "discount_percentage", "vat_amount", "sku", "barcode", "stock_quantity", "status", "is_featured",
            "is_physical_product", "weight", "height", "length", "width", "is_bulky", "stock_policy",
            "backorder_limit", "restock_date", "lead_time_days")

# A variation's own stock policy terms (migrations/0027; None inherits the product's).
VARIATION_TERMS = ("stock_policy", "backorder_limit", "restock_date", "lead_time_days")


# --- product payloads ------------------------------------------------------------

_PRODUCT_FIELDS = [f for f in Product._meta.sorted_fields if f.name != "search_vector"]


async def management_payloads(ids: list[int]) -> dict[int, dict[str, Any]]:
    """The management shape of products ``ids``, in at most seven queries."""
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
    attrs = {r[0]: product_attributes.product_attributes(r[1]) for r in await fetch_all(
        f"SELECT p.id, {product_attributes.PRODUCT_ATTRIBUTES_SQL} FROM product p WHERE p.id = ANY(%s)", [ids])}
    return {row["id"]: {**_management_payload(row, tags.get(row["id"], []), images.get(row["id"], []),
                                              variations.get(row["id"], []), sizes, colors),
                        "attributes": attrs.get(row["id"], [])} for row in rows}


def _management_payload(p: dict, tags: list[int], images: list[dict], variations: list[dict],
                        sizes: dict[int, list[dict]], colors: dict[int, list[dict]]) -> dict[str, Any]:
    var_out = []
    available_sizes: dict[int, dict] = {}
    available_colors: dict[int, dict] = {}
    selling = p["price"] if p["price"] is not None else p["base_price"]
    product_terms = StockTerms(p["stock_policy"], p["backorder_limit"], p["restock_date"], p["lead_time_days"])
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
            "price": f"{line_unit_price(selling, v['price_adjustment']):.2f}",  # what the customer pays
            "sizes": v_sizes,
            "colors": v_colors,
            # Its own stock policy terms (None: the product's) and the policy in force.
            **{k: v[k] for k in VARIATION_TERMS},
            "restock_date": v["restock_date"].isoformat() if v["restock_date"] else None,
            "backordered": v["backordered"],
            "effective_stock_policy": effective_terms(product_terms, v["stock_policy"]).policy,
        })
    urls = [media_url(img["image_url"]) for img in images]
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
        "main_image": media_url(p["main_image"]),
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
        "is_bulky": p["is_bulky"],
        "stock_policy": p["stock_policy"],
        "backorder_limit": p["backorder_limit"],
        "backordered": p["backordered"],
        "restock_date": p["restock_date"].isoformat() if p["restock_date"] else None,
        "lead_time_days": p["lead_time_days"],
        "created_at": iso(p["created_at"]),
        "added_date_formatted": p["created_at"].strftime("%d %b %Y"),
        "variants_count": len(var_out),
        "all_images": {
            "main_image": media_url(p["main_image"]),
            "gallery": [{"id": img["id"], "image_url": media_url(img["image_url"]), "is_main": img["is_main"]}
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
    assigned = await _resolve_attributes(data)
    now = utcnow()
    columns = {_COLUMN.get(k, k): data[k] for k in _SCALARS if k in data}
    async with transaction():
        try:
            product_id = await _insert_with_slug(
                Product, data["name"], {**columns, "created_at": now, "updated_at": now},
                on_conflict={"product_sku": ("sku", "Product with this SKU already exists.")})
            if data.get("slug"):
                await Product.update(slug=data["slug"]).where(Product.id == product_id).aio_execute()
            await _set_tags(product_id, data.get("tags") or [], replace=False)
            await _replace_variations(product_id, data.get("variations") or [], existing=set())
            if assigned is not None:
                await product_attributes.set_product_attributes(product_id, *assigned)
        except pw.IntegrityError as exc:
            raise _integrity_to_validation(exc) from None
    return await load_product_payload(product_id)


async def update_product(product_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Set the fields in ``data`` on product ``product_id`` (a PUT passes every
    field, defaults included; a PATCH only those sent). ``tags`` and
    ``variations``, when given, replace the product's: variation items whose
    ``id`` is one of this product's variations are updated in place, others
    created, and the ones not listed deleted. ``attributes``, when given (not
    None), set the values of the attributes they name (others stay). The slug stays (links keep
    working) unless ``slug`` is given.

    Raises NotFound, or ValidationFailed as create_product does (nothing changed).
    """
    current = await Product.select(Product.id, Product.discount_type, Product.discount_value).where(
        Product.id == product_id).dicts().aio_execute()
    if not current:
        raise NotFound("Product not found.")
    await _check_product(data, product_id=product_id, current=current[0])
    assigned = await _resolve_attributes(data)
    columns = {_COLUMN.get(k, k): data[k] for k in _SCALARS if k in data}
    if data.get("slug"):
        columns["slug"] = data["slug"]
    if not columns and "tags" not in data and "variations" not in data and assigned is None:
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
                if assigned is not None:
                    await product_attributes.set_product_attributes(product_id, *assigned)
        except pw.IntegrityError as exc:
            raise _integrity_to_validation(exc) from None
    return await load_product_payload(product_id)


async def _resolve_attributes(data: dict[str, Any]) -> tuple | None:
    """The ``attributes`` of the request as ids (None: not given, leave them); 400 before any write."""
    spec = data.get("attributes")
    if spec is None:
        return None
    return await product_attributes.resolve_assignment(spec)


def _integrity_to_validation(exc: pw.IntegrityError) -> Exception:
    """Map a unique violation that slipped past the pre-checks (a race) to a 400."""
    name = _constraint(exc)
    if name == "product_slug":
        return ValidationFailed.field("slug", "Product with this slug already exists.")
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
    if data.get("slug"):
        if not SLUG_PATTERN.match(data["slug"]):
            errors["slug"] = ["Lower-case letters, digits and single hyphens only."]
        else:
            query = Product.select().where(Product.slug == data["slug"])
            if product_id is not None:
                query = query.where(Product.id != product_id)
            if await query.aio_exists():
                errors["slug"] = ["Product with this slug already exists."]
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
            **{k: v.get(k) for k in VARIATION_TERMS},  # None: the product's applies
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
        await delete_upload(key)
    return count
