"""Wishlist use cases: the list, adding and removing products, moving one to
the cart, and the user's stock notifications."""
from __future__ import annotations

from typing import Any

from models.catalog.queries import IMAGES_SQL, MAIN_IMAGE_SQL, iso_sql, product_items
from models.core.db import fetch_all, fetch_one, fetch_prepared, transaction
from models.core.errors import NotFound, ValidationFailed

MAX_ID = 2**31 - 1
ITEM_NOT_FOUND = "Wishlist item not found"
NOW = "(now() at time zone 'utc')"
NOTIFICATIONS_SHOWN = 100

_WISHLIST_SQL = f"""SELECT w.id, wi.id, p.id, p.name, p.description, {MAIN_IMAGE_SQL}, {IMAGES_SQL}, p.price::text,
    p.status, p.stock_quantity, {iso_sql("wi.added_at")}
FROM wishlist w
LEFT JOIN wishlist_item wi ON wi.wishlist_id = w.id
LEFT JOIN product p ON p.id = wi.product_id
WHERE w.user_id = %(user_id)s
ORDER BY wi.added_at DESC, wi.id DESC"""


def _ok_id(value: int) -> bool:
    return 0 < value <= MAX_ID


async def wishlist_payload(user_id: int) -> dict[str, Any]:
    """GET /wishlist/: the spec's shape (each product also carries its
    ``wishlist_item_id`` and ``stock_quantity``). One query whatever it holds."""
    rows = await fetch_prepared(_WISHLIST_SQL, {"user_id": user_id})
    products = [{
        "id": r[2], "wishlist_item_id": r[1], "name": r[3], "description": r[4], "main_image": r[5],
        "images": r[6], "price": r[7], "is_liked": True, "status": r[8], "stock_quantity": r[9], "added_at": r[10],
    } for r in rows if r[1] is not None]
    return {"id": rows[0][0] if rows else None, "user": user_id, "products": products,
            "products_count": len(products)}


async def add_to_wishlist(user: Any, product_id: int) -> tuple[dict[str, Any], bool]:
    """Put a published product on the user's wishlist (creating the wishlist
    on first use). Returns (payload, created); adding it twice is harmless.

    Raises NotFound("Product not found") for an unknown or unpublished product.
    """
    if not _ok_id(product_id) or await fetch_one(
            "SELECT 1 FROM product WHERE id = %s AND status = 'published'", (product_id,)) is None:
        raise NotFound("Product not found")
    async with transaction():
        row = await fetch_one(
            f"WITH w AS (INSERT INTO wishlist (user_id, created_at) VALUES (%(user)s, {NOW}) "
            "ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id RETURNING id), "
            "ins AS (INSERT INTO wishlist_item (wishlist_id, user_id, product_id, added_at) "
            f"SELECT w.id, %(user)s, %(product)s, {NOW} FROM w "
            "ON CONFLICT (user_id, product_id) DO NOTHING RETURNING id, wishlist_id, added_at) "
            "SELECT id, wishlist_id, added_at, TRUE FROM ins UNION ALL "
            "SELECT wi.id, wi.wishlist_id, wi.added_at, FALSE FROM wishlist_item wi "
            "WHERE wi.user_id = %(user)s AND wi.product_id = %(product)s AND NOT EXISTS (SELECT 1 FROM ins)",
            {"user": user.id, "product": product_id})
    if row is None:  # added by a concurrent request after this statement's snapshot
        row = await fetch_one("SELECT id, wishlist_id, added_at, FALSE FROM wishlist_item WHERE user_id = %s "
                              "AND product_id = %s", (user.id, product_id))
    item_id, wishlist_id, added_at, created = row
    details = (await product_items([product_id], user))[0]
    keys = ("id", "name", "description", "main_image", "images", "price", "status", "is_liked")
    return ({"id": item_id, "wishlist": wishlist_id, "product": product_id, "added_at": added_at,
             "product_details": {k: details[k] for k in keys}}, created)


async def remove_item(user_id: int, item_id: int) -> None:
    """Remove a wishlist item by its id. Raises NotFound (also for another user's item)."""
    rows = await fetch_all("DELETE FROM wishlist_item WHERE id = %s AND user_id = %s RETURNING id",
                           (item_id if _ok_id(item_id) else 0, user_id))
    if not rows:
        raise NotFound(ITEM_NOT_FOUND)


async def remove_product(user_id: int, product_id: int) -> None:
    """Remove a product from the wishlist. Raises NotFound when it is not on it."""
    rows = await fetch_all("DELETE FROM wishlist_item WHERE product_id = %s AND user_id = %s RETURNING id",
                           (product_id if _ok_id(product_id) else 0, user_id))
    if not rows:
        raise NotFound(ITEM_NOT_FOUND)


async def bulk_remove(user_id: int, item_ids: list[int]) -> int:
    """Remove the user's items among ``item_ids`` (others' and unknown ids are
    ignored); returns how many went. Raises ValidationFailed for an empty list."""
    if not item_ids:
        raise ValidationFailed(errors={"wishlist_item_ids": ["This list may not be empty."]})
    rows = await fetch_all("DELETE FROM wishlist_item WHERE id = ANY(%s) AND user_id = %s RETURNING id",
                           ([i for i in item_ids if _ok_id(i)], user_id))
    return len(rows)


async def move_to_cart(user_id: int, item_id: int, quantity: int = 1) -> Any:
    """Move a wishlist item into the cart (``quantity`` of it) and off the
    wishlist, in one transaction. Returns the cart line.

    Raises NotFound (unknown or another user's item), ValidationFailed
    ("Invalid wishlist item or quantity"), the cart's errors (out of stock,
    "Only N left", product withdrawn) — and then the item stays.
    """
    from models.cart.actions import add_item

    if quantity < 1:
        raise ValidationFailed("Invalid wishlist item or quantity",
                               errors={"quantity": ["Ensure this value is greater than or equal to 1."]})
    async with transaction():
        row = await fetch_one("DELETE FROM wishlist_item WHERE id = %s AND user_id = %s RETURNING product_id",
                              (item_id if _ok_id(item_id) else 0, user_id))
        if row is None:
            raise NotFound(ITEM_NOT_FOUND)
        return await add_item(user_id, row[0], quantity)


# --- stock notifications -------------------------------------------------------------

_NOTIFICATION_COLUMNS = f"""n.id, n.notification_type, n.message, n.is_read, {iso_sql("n.created_at")},
    n.product_id, n.variation_id, n.old_price::text, n.new_price::text"""


def _notification(r: tuple) -> dict[str, Any]:
    return {"id": r[0], "notification_type": r[1], "message": r[2], "is_read": r[3], "created_at": r[4],
            "product": r[5], "variation": r[6], "old_price": r[7], "new_price": r[8]}


async def list_notifications(user_id: int, unread_only: bool = False) -> list[dict[str, Any]]:
    """The user's latest stock notifications, newest first (one query)."""
    rows = await fetch_all(
        f"SELECT {_NOTIFICATION_COLUMNS} FROM stock_notification n WHERE n.user_id = %s "
        f"{'AND NOT n.is_read ' if unread_only else ''}ORDER BY n.created_at DESC, n.id DESC LIMIT %s",
        (user_id, NOTIFICATIONS_SHOWN))
    return [_notification(r) for r in rows]


async def mark_read(user_id: int, notification_id: int) -> dict[str, Any]:
    """Mark one notification read. Raises NotFound (also for another user's)."""
    rows = await fetch_all(
        f"UPDATE stock_notification n SET is_read = TRUE WHERE n.id = %s AND n.user_id = %s "
        f"RETURNING {_NOTIFICATION_COLUMNS}", (notification_id if _ok_id(notification_id) else 0, user_id))
    if not rows:
        raise NotFound("Notification not found")
    return _notification(rows[0])


async def mark_all_read(user_id: int) -> int:
    rows = await fetch_all("UPDATE stock_notification SET is_read = TRUE WHERE user_id = %s AND NOT is_read "
                           "RETURNING id", (user_id,))
    return len(rows)
