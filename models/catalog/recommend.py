"""Product recommendations.

- similar: neighbours in the product's category, then in its parent's and
  sibling categories, in-stock first, best rated and most viewed first.
- complementary: products bought together with it, precomputed into
  ``product_recommendation`` (kind 'complementary') by the hourly Celery task
  ``tasks.catalog.rebuild_recommendations``; category neighbours when none.

Every lookup is a bounded number of queries (at most three per request).
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

from models.catalog.queries import MAIN_IMAGE_SQL, load_visible_product
from models.core.db import db, fetch_all, transaction
from models.core.errors import ValidationFailed

log = logging.getLogger("avantlush.recommend")

REC_TYPES = ("similar", "complementary")
MAX_RECOMMENDATIONS = 8
VIEWS_WINDOW_DAYS = 90
COMPLEMENTARY_PER_PRODUCT = 20

_CARD_COLUMNS = f"p.id, p.name, p.price::text, {MAIN_IMAGE_SQL}, p.slug, p.rating::text, p.stock_quantity"


def card(row: Sequence[Any]) -> dict[str, Any]:
    pid, name, price, main_image, slug, rating, stock = row[:7]
    return {"id": pid, "name": name, "price": price, "main_image": main_image, "slug": slug, "rating": rating,
            "stock_quantity": stock}


def validate_rec_type(rec_type: str) -> str:
    if rec_type not in REC_TYPES:
        raise ValidationFailed(
            errors={"rec_type": [f"Invalid recommendation type '{rec_type}'. Valid types: {', '.join(REC_TYPES)}."]},
            valid_types=list(REC_TYPES))
    return rec_type


async def similar(product_id: int, category_id: int | None, limit: int = MAX_RECOMMENDATIONS,
                  exclude: Sequence[int] = ()) -> list[dict[str, Any]]:
    """Published neighbours of a product (one query): its own category first
    (tier 0), then its parent, sibling and child categories (tier 1); a
    product without a category gets the shop's best rated (tier 2)."""
    exclude = [product_id, *exclude]
    if category_id is None:
        candidates = "SELECT p.id, 2 AS tier FROM product p WHERE p.status = 'published' AND p.id <> ALL(%s)"
        params: list[Any] = [exclude]
    else:
        candidates = (
            "SELECT p.id, CASE WHEN p.category_id = %s THEN 0 ELSE 1 END AS tier FROM product p "
            "WHERE p.status = 'published' AND p.id <> ALL(%s) AND p.category_id IN ("
            " SELECT %s"
            " UNION SELECT c.parent_id FROM category c WHERE c.id = %s AND c.parent_id IS NOT NULL"
            " UNION SELECT s.id FROM category s JOIN category c ON s.parent_id = c.parent_id WHERE c.id = %s"
            " UNION SELECT k.id FROM category k WHERE k.parent_id = %s)")
        params = [category_id, exclude, category_id, category_id, category_id, category_id]
    sql = (f"WITH cand AS ({candidates}), "
           "views AS (SELECT v.product_id, count(*) AS n FROM product_view v JOIN cand ON cand.id = v.product_id "
           f"  WHERE v.viewed_at > (now() at time zone 'utc') - interval '{VIEWS_WINDOW_DAYS} days' "
           "  GROUP BY v.product_id) "
           f"SELECT {_CARD_COLUMNS} FROM cand JOIN product p ON p.id = cand.id "
           "LEFT JOIN views ON views.product_id = p.id "
           "ORDER BY cand.tier, (p.stock_quantity > 0) DESC, p.rating DESC, p.num_ratings DESC, "
           "COALESCE(views.n, 0) DESC, p.id DESC LIMIT %s")
    return [card(r) for r in await fetch_all(sql, params + [limit])]


async def complementary(product_id: int, limit: int = MAX_RECOMMENDATIONS) -> list[dict[str, Any]]:
    """Published products bought together with this one, in-stock and most often first (one query)."""
    rows = await fetch_all(
        f"SELECT {_CARD_COLUMNS} FROM product_recommendation r JOIN product p ON p.id = r.recommended_id "
        "WHERE r.product_id = %s AND r.kind = 'complementary' AND p.status = 'published' AND p.id <> %s "
        "ORDER BY (p.stock_quantity > 0) DESC, r.score DESC, p.id LIMIT %s", [product_id, product_id, limit])
    return [card(r) for r in rows]


async def recommendations(product_id: int, user: Any = None, rec_type: str | None = None) -> list[dict[str, Any]]:
    """Up to eight products to show beside a product.

    ``rec_type`` None: what is bought with it, topped up with similar ones;
    'similar' or 'complementary' (falling back to similar when nothing was
    bought with it yet). Raises ValidationFailed for another type (before
    anything else), NotFound("Product not found") for a product the user may
    not see.
    """
    if rec_type is not None:
        validate_rec_type(rec_type)
    pid, category_id, _status = await load_visible_product(product_id, user)
    if rec_type == "similar":
        return await similar(pid, category_id)
    bought = await complementary(pid)
    if rec_type == "complementary" and bought:
        return bought
    if len(bought) >= MAX_RECOMMENDATIONS:
        return bought
    return bought + await similar(pid, category_id, MAX_RECOMMENDATIONS - len(bought), [b["id"] for b in bought])


async def rebuild_complementary() -> int:
    """Recompute the 'complementary' rows from co-purchases; returns how many.

    Two products are complementary when they appear in the same order (of
    ``order_item``, migrations/0008_orders.sql); the score is the number of
    such orders, and each product keeps its top COMPLEMENTARY_PER_PRODUCT.
    With no orders at all the rows are left as they are (the demo seed's).
    Idempotent: the rows are replaced in one transaction.
    """
    exists = await fetch_all("SELECT EXISTS (SELECT 1 FROM order_item)")
    if not exists[0][0]:
        log.info("no orders yet: complementary recommendations left as they are")
        return 0

    async def rowcount(_db, cursor):
        return cursor.rowcount

    async with transaction():
        await db.aio_execute_sql("DELETE FROM product_recommendation WHERE kind = 'complementary'")
        count = await db.aio_execute_sql(
            "INSERT INTO product_recommendation (product_id, recommended_id, kind, score) "
            "SELECT product_id, recommended_id, 'complementary', score FROM ("
            " SELECT pairs.*, row_number() OVER (PARTITION BY product_id ORDER BY score DESC, recommended_id) AS rn"
            " FROM (SELECT a.product_id, b.product_id AS recommended_id, count(DISTINCT a.order_id) AS score"
            "       FROM order_item a JOIN order_item b ON b.order_id = a.order_id AND b.product_id <> a.product_id"
            "       JOIN product pa ON pa.id = a.product_id JOIN product pb ON pb.id = b.product_id"
            "       GROUP BY a.product_id, b.product_id) pairs"
            ") ranked WHERE rn <= %s", [COMPLEMENTARY_PER_PRODUCT], fetch_results=rowcount)
    log.info("rebuilt %d complementary recommendations", count)
    return count
