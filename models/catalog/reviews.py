"""Product reviews: list, create (one per user and product, keeping the
product's rating current) and "helpful" votes (one per user and review).

Triggers (migrations/README.md): the rating update moves the product's
popularity in search (0007 product_search_update, then the 0012 change feed).
"""
from __future__ import annotations

from typing import Any, Sequence

import peewee as pw

from models.accounts.tables import User
from models.catalog.queries import is_staff, load_visible_product
from models.catalog.tables import Product, Review, ReviewTag, ReviewTagLink
from models.core.db import fetch_all, iso, transaction
from models.core.errors import AppError, NotFound, ValidationFailed

ALREADY_REVIEWED = "You have already reviewed this product"


# --- verified purchases ------------------------------------------------------------

async def has_purchased(user_id: int, product_id: int) -> bool:
    """Whether the user has a delivered or paid order containing the product
    (the orders tables of migrations/0008_orders.sql)."""
    rows = await fetch_all(
        "SELECT EXISTS (SELECT 1 FROM order_item i JOIN orders o ON o.id = i.order_id "
        "WHERE o.user_id = %s AND i.product_id = %s AND (o.status = 'DELIVERED' OR o.payment_status = 'PAID'))",
        [user_id, product_id])
    return bool(rows[0][0])


# --- serialisers ---------------------------------------------------------------------

async def serialize_reviews(product_id: int, reviews: list[tuple], user: Any = None) -> list[dict[str, Any]]:
    """Payloads for ``reviews`` (rows of ``_REVIEW_COLUMNS``) of one product.

    Three queries whatever their number: images, tags with their per-product
    counts, and the current user's helpful votes (skipped when anonymous).
    """
    if not reviews:
        return []
    ids = [r[0] for r in reviews]
    images: dict[int, list[str]] = {}
    for review_id, url in await fetch_all(
            "SELECT review_id, media_url(image_url) FROM review_image WHERE review_id = ANY(%s) ORDER BY id", [ids]):
        images.setdefault(review_id, []).append(url)
    # A tag's count is how many reviews of this product carry it.
    tags: dict[int, list[dict]] = {}
    for review_id, tag_id, name, slug, count in await fetch_all(
            "SELECT l.review_id, t.id, t.name, t.slug, count(*) OVER (PARTITION BY t.id) "
            "FROM review_tag_link l JOIN review r ON r.id = l.review_id JOIN review_tag t ON t.id = l.tag_id "
            "WHERE r.product_id = %s ORDER BY t.name, t.id", [product_id]):
        tags.setdefault(review_id, []).append({"id": tag_id, "name": name, "slug": slug, "count": count})
    voted: set[int] = set()
    if user is not None:
        voted = {r[0] for r in await fetch_all(
            "SELECT review_id FROM review_helpful WHERE user_id = %s AND review_id = ANY(%s)", [user.id, ids])}
    return [{
        "id": rid,
        "product": pid,
        "user_email": email,
        "rating": rating,
        "content": content,
        "images": images.get(rid, []),
        "tags": tags.get(rid, []),
        "helpful_count": helpful_count,
        "is_helpful": rid in voted,
        "variant": variant_id,
        "is_verified_purchase": verified,
        "created_at": iso(created_at),
    } for rid, pid, email, rating, content, helpful_count, variant_id, verified, created_at in reviews]


_REVIEW_COLUMNS = ("r.id, r.product_id, u.email, r.rating, r.content, r.helpful_count, r.variant_id, "
                   "r.is_verified_purchase, r.created_at")
_REVIEW_FROM = "FROM review r JOIN users u ON u.id = r.user_id"


# --- use cases -------------------------------------------------------------------------

async def list_reviews(product_id: int, user: Any = None) -> list[dict[str, Any]]:
    """All reviews of a product the user may see, newest first (five queries at most).

    Raises NotFound("Product not found").
    """
    await load_visible_product(product_id, user)
    rows = await fetch_all(f"SELECT {_REVIEW_COLUMNS} {_REVIEW_FROM} WHERE r.product_id = %s "
                           "ORDER BY r.created_at DESC, r.id DESC", [product_id])
    return await serialize_reviews(product_id, rows, user)


async def create_review(user: User, product_id: int, rating: int, content: str = "",
                        tag_ids: Sequence[int] = ()) -> dict[str, Any]:
    """Review a published product once, and update its rating and count.

    The product row is locked for the transaction, so concurrent reviews of
    one product are counted one after the other and a second review by the
    same user is refused even under a race.

    Raises NotFound("Product not found"), ValidationFailed for unknown tag ids
    or ALREADY_REVIEWED.
    """
    tag_ids = list(dict.fromkeys(tag_ids))
    async with transaction():
        locked = await (Product.select(Product.id).where((Product.id == product_id)
                                                         & (Product.status == "published"))
                        .for_update().tuples().aio_execute())
        if not locked:
            raise NotFound("Product not found")
        if tag_ids:
            found = {t for (t,) in await ReviewTag.select(ReviewTag.id).where(
                ReviewTag.id.in_(tag_ids)).tuples().aio_execute()}
            missing = [t for t in tag_ids if t not in found]
            if missing:
                raise ValidationFailed.field("tag_ids", f'Invalid pk "{missing[0]}" - object does not exist.')
        if await Review.select().where((Review.product == product_id) & (Review.user == user.id)).aio_exists():
            raise ValidationFailed(ALREADY_REVIEWED, errors={"non_field_errors": [ALREADY_REVIEWED]})
        verified = await has_purchased(user.id, product_id)
        review = await Review.aio_create(product=product_id, user=user.id, rating=rating, content=content,
                                         is_verified_purchase=verified)
        if tag_ids:
            await ReviewTagLink.insert_many([(review.id, t) for t in tag_ids],
                                            fields=[ReviewTagLink.review, ReviewTagLink.tag]).aio_execute()
        await refresh_rating(product_id)
    rows = await fetch_all(f"SELECT {_REVIEW_COLUMNS} {_REVIEW_FROM} WHERE r.id = %s", [review.id])
    return (await serialize_reviews(product_id, rows, user))[0]


async def refresh_rating(product_id: int) -> None:
    """Recompute a product's average rating (2 decimals) and count from its reviews."""
    stats = Review.select(pw.fn.ROUND(pw.fn.AVG(Review.rating), 2)).where(Review.product == product_id)
    count = Review.select(pw.fn.COUNT(Review.id)).where(Review.product == product_id)
    await Product.update(rating=pw.fn.COALESCE(stats, 0), num_ratings=count).where(
        Product.id == product_id).aio_execute()


OWN_REVIEW = "You cannot mark your own review as helpful."


async def mark_helpful(user: User, review_id: int) -> int:
    """Vote a review helpful; a user's second vote changes nothing. Returns the count.

    Raises NotFound("Review not found") for a missing review, or one whose
    product the user may not see; AppError (400) for one's own review.
    """
    rows = await fetch_all("SELECT r.id, r.user_id FROM review r JOIN product p ON p.id = r.product_id "
                           "WHERE r.id = %s AND (p.status = 'published' OR %s)", [review_id, is_staff(user)])
    if not rows:
        raise NotFound("Review not found")
    if rows[0][1] == user.id:
        raise AppError(OWN_REVIEW, {"non_field_errors": [OWN_REVIEW]})
    async with transaction():
        inserted = await fetch_all(
            "INSERT INTO review_helpful (review_id, user_id, created_at) VALUES (%s, %s, now() at time zone 'utc') "
            "ON CONFLICT DO NOTHING RETURNING review_id", [review_id, user.id])
        if inserted:
            # Increment, not recount: it reads the latest row version, so concurrent votes all count.
            count = await fetch_all("UPDATE review SET helpful_count = helpful_count + 1 WHERE id = %s "
                                    "RETURNING helpful_count", [review_id])
        else:
            count = await fetch_all("SELECT helpful_count FROM review WHERE id = %s", [review_id])
    return count[0][0]


async def list_review_tags() -> list[dict[str, Any]]:
    """Every review tag, by name (one query)."""
    rows = await ReviewTag.select(ReviewTag.id, ReviewTag.name, ReviewTag.slug).order_by(
        ReviewTag.name).tuples().aio_execute()
    return [{"id": i, "name": n, "slug": s} for i, n, s in rows]

