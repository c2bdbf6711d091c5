"""Abandoned carts (CONTRACT.md): a cart is abandoned when it holds items, has
been idle for ``ABANDONED_CART_HOURS`` and no order followed it.

A periodic job (``process_abandoned_carts``, Celery beat) opens an episode
(``abandoned_cart``: what the cart held, a secret restore token) for each
newly abandoned cart, and sends its user at most two reminders 24 h apart,
each queued in the same transaction that counts it. A reminder goes only
while the cart still holds items and is still idle. An episode closes when
the cart is emptied, or when an order is placed (``mark_cart_converted``,
called by orders): then no more reminders go, and an order placed after a
reminder is recorded on the episode (``order_id`` + ``recovered_at``), so
recovered revenue can be counted.

Triggers (migrations/README.md): abandoned_cart writes bump the dashboard
cache version (0011 dashboard_version_abandoned_cart).
"""
from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

import settings
from models.core import jobs
from models.core.db import fetch_all, fetch_one, transaction, utcnow
from models.core.errors import NotFound

MAX_REMINDERS = 2
REMINDER_GAP = dt.timedelta(hours=24)
REMINDER_TASK = "tasks.cart.send_cart_reminder"
NOW = "(now() at time zone 'utc')"
# Idle since: the cart's own changes (promo, removals) and its lines'.
IDLE = "GREATEST(c.updated_at, (SELECT max(ci.updated_at) FROM cart_item ci WHERE ci.cart_id = c.id)) <= %(cutoff)s"


async def process_abandoned_carts(now: dt.datetime | None = None) -> dict[str, int]:
    """One pass of the abandoned-cart job; returns counts of what it did.

    Safe to run concurrently with itself and with shoppers (row locks, SKIP
    LOCKED) and idempotent: a second pass at the same time does nothing.
    """
    now = now or utcnow()
    cutoff = now - dt.timedelta(hours=settings.ABANDONED_CART_HOURS)
    async with transaction():
        closed = await fetch_all(
            "WITH gone AS (SELECT c.id AS cart_id, c.abandoned_cart_id AS episode FROM cart c "
            "WHERE c.abandoned_cart_id IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM cart_item ci WHERE ci.cart_id = c.id) FOR UPDATE OF c SKIP LOCKED), "
            "closed AS (UPDATE abandoned_cart a SET closed_at = %(now)s FROM gone WHERE a.id = gone.episode "
            "RETURNING a.id) "
            "UPDATE cart SET abandoned_cart_id = NULL FROM gone WHERE cart.id = gone.cart_id RETURNING cart.id",
            {"now": now})
        opened = await fetch_all(
            "WITH idle AS (SELECT c.id, c.user_id FROM cart c JOIN users u ON u.id = c.user_id "
            "WHERE c.abandoned_cart_id IS NULL AND u.is_active AND " + IDLE + " "
            "AND EXISTS (SELECT 1 FROM cart_item ci WHERE ci.cart_id = c.id) FOR UPDATE OF c SKIP LOCKED), "
            "ins AS (INSERT INTO abandoned_cart (cart_id, user_id, abandoned_at, items, subtotal, token, "
            "reminders_sent) SELECT idle.id, idle.user_id, %(now)s, "
            "(SELECT jsonb_agg(jsonb_build_object('product_id', ci.product_id, 'variation_id', ci.variation_id, "
            "'quantity', ci.quantity) ORDER BY ci.id) FROM cart_item ci WHERE ci.cart_id = idle.id), "
            "(SELECT COALESCE(sum(line_unit_price(p.price, v.price_adjustment) * ci.quantity), 0) "
            "FROM cart_item ci JOIN product p ON p.id = ci.product_id "
            "LEFT JOIN product_variation v ON v.id = ci.variation_id WHERE ci.cart_id = idle.id), "
            "replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 0 FROM idle "
            "RETURNING id, cart_id) "
            "UPDATE cart SET abandoned_cart_id = ins.id FROM ins WHERE cart.id = ins.cart_id RETURNING ins.id",
            {"now": now, "cutoff": cutoff})
        due = await fetch_all(
            "UPDATE abandoned_cart a SET reminders_sent = a.reminders_sent + 1, last_reminder_at = %(now)s "
            "FROM cart c JOIN users u ON u.id = c.user_id "
            "WHERE c.abandoned_cart_id = a.id AND a.closed_at IS NULL AND a.reminders_sent < %(max)s "
            "AND (a.last_reminder_at IS NULL OR a.last_reminder_at <= %(gap)s) "
            "AND u.is_active AND NOT u.is_guest AND " + IDLE + " "  # a guest has no address to remind
            "AND EXISTS (SELECT 1 FROM cart_item ci WHERE ci.cart_id = c.id) "
            "RETURNING a.id, a.reminders_sent",
            {"now": now, "cutoff": cutoff, "max": MAX_REMINDERS, "gap": now - REMINDER_GAP})
        for episode_id, number in due:
            await jobs.enqueue(REMINDER_TASK, episode_id, number)
    return {"closed": len(closed), "abandoned": len(opened), "reminders": len(due)}


async def mark_cart_converted(user_id: int, order_id: int) -> bool:
    """Tell the cart that an order was placed from it (orders call this in
    their transaction when an order is placed, with ``clear_cart``).

    Closes the cart's open abandoned-cart episode, so no more reminders go;
    when a reminder had been sent, the order is recorded as recovered
    (``abandoned_cart.order_id`` and ``recovered_at``). Returns whether the
    order counts as recovered by a reminder.
    """
    row = await fetch_one(
        "WITH ep AS (UPDATE abandoned_cart a SET closed_at = " + NOW + ", order_id = %(order_id)s, "
        "recovered_at = CASE WHEN a.reminders_sent > 0 THEN " + NOW + " END "
        "FROM cart c WHERE c.user_id = %(user_id)s AND c.abandoned_cart_id = a.id AND a.closed_at IS NULL "
        "RETURNING a.id, a.reminders_sent) "
        "UPDATE cart SET abandoned_cart_id = NULL FROM ep WHERE cart.abandoned_cart_id = ep.id "
        "RETURNING ep.reminders_sent",
        {"user_id": user_id, "order_id": order_id})
    return bool(row and row[0] > 0)


def restore_page(token: str) -> str:
    """The storefront page a reminder links to; it POSTs the token to /api/cart/restore/<token>/."""
    return f"{settings.FRONTEND_URL}/cart/restore?token={urllib.parse.quote(token, safe='')}"


async def restore_cart(token: str) -> int:
    """Put what an abandoned cart held back into its user's cart (the link of
    a reminder email): each line at least at its old quantity, within what
    its stock policy can sell today (``line_sellable_stock``); withdrawn products and sold-out lines are skipped. Records the
    click. Returns the user's id.

    Raises NotFound("Invalid or expired link") for an unknown token or a
    closed episode.
    """
    if not token or len(token) > 64:
        raise NotFound("Invalid or expired link")
    async with transaction():
        row = await fetch_one(
            f"UPDATE abandoned_cart SET restored_at = COALESCE(restored_at, {NOW}) "
            "WHERE token = %s AND closed_at IS NULL RETURNING id, cart_id, user_id", (token,))
        if row is None:
            raise NotFound("Invalid or expired link")
        episode_id, cart_id, user_id = row
        await fetch_all(
            "INSERT INTO cart_item (cart_id, product_id, variation_id, quantity, created_at, updated_at) "
            f"SELECT %(cart)s, s.product_id, s.variation_id, LEAST(s.quantity, line_sellable_stock(p, v)), "
            f"{NOW}, {NOW} FROM abandoned_cart a "
            "CROSS JOIN jsonb_to_recordset(a.items) AS s(product_id int, variation_id int, quantity int) "
            "JOIN product p ON p.id = s.product_id AND p.status = 'published' "
            "LEFT JOIN product_variation v ON v.id = s.variation_id AND v.product_id = p.id "
            "WHERE a.id = %(episode)s AND (s.variation_id IS NULL OR v.id IS NOT NULL) "
            "AND line_sellable_stock(p, v) > 0 "
            "ON CONFLICT (cart_id, product_id, (COALESCE(variation_id, 0))) DO UPDATE "
            "SET quantity = GREATEST(cart_item.quantity, EXCLUDED.quantity), updated_at = EXCLUDED.updated_at "
            "RETURNING id", {"cart": cart_id, "episode": episode_id})
        await fetch_all(f"UPDATE cart SET updated_at = {NOW} WHERE id = %s RETURNING id", (cart_id,))
    return user_id


async def reminder_context(episode_id: int, number: int) -> dict[str, Any] | None:
    """What reminder ``number`` of an episode says, or None when it must not
    go (episode closed or converted, cart emptied, user gone). For the task."""
    from models.cart.queries import load_cart

    row = await fetch_one(
        "SELECT a.user_id, a.token, a.closed_at, a.reminders_sent, u.email, u.full_name, u.is_active "
        "FROM abandoned_cart a JOIN users u ON u.id = a.user_id WHERE a.id = %s", (episode_id,))
    if row is None:
        return None
    user_id, token, closed_at, sent, email, name, active = row
    if closed_at is not None or not active or number > sent:
        return None
    cart = await load_cart(user_id)
    if not cart.lines:
        return None
    return {
        "email": email,
        "name": name,
        "number": number,
        # The storefront's page, which POSTs to /api/cart/restore/<token>/ (a scanner's GET restores nothing).
        "link": restore_page(token),
        "items": [{"name": x.name + (f" ({x.variation_name})" if x.variation_name else ""),
                   "quantity": x.quantity, "price": f"{x.unit_price:.2f}", "image": x.image} for x in cart.lines],
        "subtotal": f"{cart.subtotal:.2f}",
        "subject": "You left something in your cart" if number == 1 else "Your cart is still waiting for you",
    }


async def abandoned_cart_stats(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Episodes opened in [start, end): how many, how many were recovered
    after a reminder and their orders' ids (for the dashboard). One query."""
    row = await fetch_one(
        "SELECT count(*), count(recovered_at), COALESCE(array_agg(order_id) FILTER (WHERE recovered_at IS NOT NULL), "
        "'{}') FROM abandoned_cart WHERE abandoned_at >= %s AND abandoned_at < %s", (start, end))
    return {"abandoned": row[0], "recovered": row[1], "recovered_order_ids": list(row[2])}


