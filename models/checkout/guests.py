"""Guests becoming customers: when someone signs in (login, Google sign-in,
registration, email verification) their guest cart (its token sent with the
request) is merged into their cart, and guest orders placed with their email
are attached to their account once that email is verified.

- merge: each guest line is added to the account's cart (quantities added),
  capped at the stock left; lines that cannot be bought any more are dropped;
  the guest cart is emptied. One transaction.
- attach: orders of guest users with the account's (verified) email and no
  customer yet move to the account (user, customer); index orders_guest_email.
- prune (hourly clean-up, ``cleanup.register("guests")``): guests older than
  ``GUEST_RETENTION_DAYS`` with no order and a cart idle as long are deleted
  (their cart, checkouts and idempotency records with them).

Triggers (migrations/README.md): moving an order to a customer fires 0013
order_rollups_change (the customer's orders_count/balance) and 0008
order_version_orders at commit.
"""
from __future__ import annotations

import datetime as dt
import logging

from models.accounts import guests as guest_accounts
from models.core import cleanup
from models.core.db import db, fetch_all, fetch_one, transaction, utcnow
from models.core.errors import AppError

log = logging.getLogger("avantlush.checkout")

GUEST_RETENTION_DAYS = 30
PRUNE_BATCH = 1000


async def merge_guest_cart(user_id: int, token: str | None) -> int:
    """Move the guest cart of ``token`` into ``user_id``'s cart; answers the
    number of lines merged (0 for no, an unknown or one's own token)."""
    from models import cart

    guest = await guest_accounts.guest_for_token(token)
    if guest is None or guest.id == user_id:
        return 0
    merged = 0
    async with transaction():
        lines = await fetch_all(
            "SELECT ci.product_id, ci.variation_id, ci.quantity FROM cart_item ci JOIN cart c ON c.id = ci.cart_id "
            "WHERE c.user_id = %s ORDER BY ci.id FOR UPDATE OF ci", [guest.id])
        for product_id, variation_id, quantity in lines:
            # What the stock policy can sell (line_sellable_stock: shelf, backorders, made to order)
            # less what the user's cart already holds of it.
            room = await fetch_one(
                "SELECT CASE WHEN %s::int IS NOT NULL AND v.id IS NULL THEN NULL ELSE line_sellable_stock(p, v) END "
                "- coalesce((SELECT ci.quantity FROM cart_item ci JOIN cart c ON c.id = ci.cart_id "
                "WHERE c.user_id = %s AND ci.product_id = p.id AND coalesce(ci.variation_id, 0) = coalesce(%s, 0)), 0) "
                "FROM product p LEFT JOIN product_variation v ON v.id = %s AND v.product_id = p.id WHERE p.id = %s",
                [variation_id, user_id, variation_id, variation_id, product_id])
            take = min(quantity, room[0] if room and room[0] is not None else 0)
            if take < 1:
                continue
            try:
                async with transaction():  # a savepoint: a line that cannot be bought is dropped, not the merge
                    await cart.add_item(user_id, product_id, take, variation_id)
                merged += 1
            except AppError as exc:
                log.info("guest cart line %s/%s not merged into user %s: %s", product_id, variation_id, user_id,
                         exc.message)
        await cart.clear_cart(guest.id)
    return merged


async def attach_guest_orders(user_id: int) -> list[int]:
    """Give the user, if their email is verified, the guest orders placed with it."""
    user = await fetch_one("SELECT email, is_verified, is_guest FROM users WHERE id = %s", [user_id])
    if user is None or not user[1] or user[2]:
        return []
    customer = await fetch_one("SELECT id FROM customer WHERE user_id = %s", [user_id])
    async with transaction():
        rows = await fetch_all(
            "UPDATE orders o SET user_id = %s, customer_id = %s, updated_at = %s FROM users g "
            "WHERE g.id = o.user_id AND g.is_guest AND o.customer_id IS NULL "
            "AND lower(o.customer_email) = lower(%s) RETURNING o.id",
            [user_id, customer[0] if customer else None, utcnow(), user[0]])
        ids = [r[0] for r in rows]
        if ids:
            await db.aio_execute_sql("UPDATE payment SET user_id = %s WHERE order_id = ANY(%s)", [user_id, ids])
    return ids


async def sign_in(user_id: int, token: str | None) -> None:
    """After any sign-in: merge the guest cart sent along (``X-Cart-Token``),
    attach the guest orders of the user's verified email."""
    await merge_guest_cart(user_id, token)
    await attach_guest_orders(user_id)


async def prune_guests(now: dt.datetime | None = None) -> int:
    """Delete guests of more than GUEST_RETENTION_DAYS with no order and no
    recent cart activity (index users_guest_joined); returns how many."""
    cutoff = (now or utcnow()) - dt.timedelta(days=GUEST_RETENTION_DAYS)
    removed = 0
    while True:
        rows = await fetch_all(
            "DELETE FROM users WHERE id IN (SELECT g.id FROM users g WHERE g.is_guest AND g.date_joined < %s "
            "AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = g.id) "
            "AND NOT EXISTS (SELECT 1 FROM cart c LEFT JOIN cart_item ci ON ci.cart_id = c.id "
            "WHERE c.user_id = g.id AND greatest(c.updated_at, ci.updated_at) >= %s) "
            "ORDER BY g.date_joined LIMIT %s) RETURNING id", [cutoff, cutoff, PRUNE_BATCH])
        removed += len(rows)
        if len(rows) < PRUNE_BATCH:
            return removed


cleanup.register("guests", prune_guests)
