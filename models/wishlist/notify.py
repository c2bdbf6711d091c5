"""What a stock notification's email says (for tasks.wishlist)."""
from __future__ import annotations

from typing import Any

import settings
from models.core.db import fetch_all, fetch_one

_SQL = """SELECT n.notification_type, n.emailed_at, u.email, u.full_name, u.is_active, p.id, p.name,
    v.variation, n.old_price::text, n.new_price::text,
    line_unit_price(p.price, v.price_adjustment)::text,
    COALESCE(media_url(p.main_image), (SELECT media_url(i.image_url) FROM product_image i
                                       WHERE i.product_id = p.id ORDER BY i.is_main DESC, i.position, i.id LIMIT 1))
FROM stock_notification n JOIN users u ON u.id = n.user_id JOIN product p ON p.id = n.product_id
LEFT JOIN product_variation v ON v.id = n.variation_id
WHERE n.id = %s"""


async def notification_email(notification_id: int) -> tuple[str, str, dict[str, Any]] | None:
    """(recipient, template, context) of a notification's email, or None when
    it must not go (already emailed, unknown, user deactivated)."""
    row = await fetch_one(_SQL, (notification_id,))
    if row is None:
        return None
    kind, emailed_at, email, name, active, pid, pname, variation, old_price, new_price, price, image = row
    if emailed_at is not None or not active:
        return None
    label = pname + (f" ({variation})" if variation else "")
    ctx: dict[str, Any] = {"name": name, "product_name": label, "image": image,
                           "link": f"{settings.FRONTEND_URL}/products/{pid}"}
    if kind == "PRICE_DROP":
        ctx.update(old_price=old_price, new_price=new_price,
                   subject=f"Price drop: {label}")
        return email, "price_drop", ctx
    ctx.update(price=price, subject=f"Back in stock: {label}")
    return email, "back_in_stock", ctx


async def mark_emailed(notification_id: int) -> None:
    await fetch_all("UPDATE stock_notification SET emailed_at = now() at time zone 'utc' WHERE id = %s "
                    "AND emailed_at IS NULL RETURNING id", (notification_id,))
