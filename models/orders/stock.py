"""Stock: taken for every line of an order in the caller's transaction, given
back exactly once, each change recorded as a ``stock_movement`` row.

Stock is taken with conditional updates (``… WHERE stock_quantity >= q``;
with a stock policy, ``WHERE sellable_stock(…) >= q``: backorders up to their
limit are counted in ``backordered``, never as negative stock):
PostgreSQL re-checks the condition on the latest row version after waiting
for a concurrent buyer's lock, so however many buyers race for the last unit,
exactly as many succeed as there are units and stock never goes negative (the
CHECK constraints of 0002 are the last line of defence). Lines are updated in
(product, variation) order so that two orders cannot deadlock on each other.

A variation's line takes the variation's stock, under the variation's own
stock policy terms where set, else the product's (``stock_terms``, 0027); a
line without a variation takes the product's. The stock_movement rows are written by triggers on the
stock columns, so that staff edits are recorded too.

Triggers (migrations/README.md): shelf and owed units netted (0023
product_backorder_net, variation_backorder_net); product stock change -> stock_movement row
(0008 stock_movement_product/_variation); stock given back from 0 -> back-in-stock
emails to wishlists (0006, 0013 product_wishlist_notify, variation_wishlist_notify,
through the outbox: they read the reason and order named here (``_reason``), and
stock an unpaid order of the last hour gives back notifies nobody,
``stock_released_by_unpaid_order()``); crossing a stock band -> tab counts and
search index (0007 product_count_update, product_search_update, 0012 change feed).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from models.catalog.stock_policy import expected_ship_date, terms_sql
from models.core.db import db, fetch_all, fetch_one, utcnow
from models.core.errors import AppError


class OutOfStock(AppError):
    status = 400

    def __init__(self, name: str, available: int | None = None) -> None:
        text = f"Insufficient stock for {name}"
        super().__init__(text, {"items": [text]}, product=name,
                         **({"available": available} if available is not None else {}))


@dataclass(frozen=True)
class StockLine:
    product_id: int
    variation_id: int | None
    quantity: int
    name: str = ""


def _merged(lines: Iterable[StockLine]) -> list[StockLine]:
    """One line per (product, variation), in lock order."""
    total: dict[tuple[int, int | None], StockLine] = {}
    for line in lines:
        key = (line.product_id, line.variation_id)
        prev = total.get(key)
        total[key] = StockLine(line.product_id, line.variation_id,
                               line.quantity + (prev.quantity if prev else 0), line.name or (prev.name if prev else ""))
    return [total[k] for k in sorted(total, key=lambda k: (k[0], k[1] or 0))]


# Taking ``q`` units under the product's stock policy (models/catalog/stock_policy.py):
# the shelf gives what it has, the rest is counted as owed (``backordered``),
# and only while ``sellable_stock`` covers ``q`` — re-checked on the latest row
# version like the plain ``stock_quantity >= q`` it replaces. For ``deny``
# sellable_stock is the stock: exactly the old statement's effect.
_TAKE_PRODUCT = (
    "UPDATE product SET stock_quantity = GREATEST(stock_quantity - %(q)s, 0), "
    "backordered = backordered + GREATEST(%(q)s - stock_quantity, 0) "
    "WHERE id = %(product)s AND sellable_stock(stock_policy, stock_quantity, backordered, backorder_limit) >= %(q)s "
    "RETURNING backordered, stock_policy, restock_date, lead_time_days")
# A variation sells under its effective terms (its own, else the product's:
# stock_terms / line_sellable_stock, migrations/0027) with its own counters.
_TAKE_VARIATION = (
    "UPDATE product_variation v SET stock_quantity = GREATEST(v.stock_quantity - %(q)s, 0), "
    "backordered = v.backordered + GREATEST(%(q)s - v.stock_quantity, 0) FROM product p "
    "WHERE v.id = %(variation)s AND v.product_id = %(product)s AND p.id = v.product_id "
    "AND line_sellable_stock(p, v) >= %(q)s "
    f"RETURNING v.backordered, {terms_sql('policy')}, {terms_sql('restock_date')}, {terms_sql('lead_time_days')}")


async def take_stock(lines: Iterable[StockLine], order_id: int | None, reason: str = "order",
                     today: dt.date | None = None) -> dict[tuple[int, int | None], dt.date | None]:
    """Take the stock of every line under its stock policy (a variation's
    own terms, else its product's); call
    inside a transaction. Returns each (product, variation)'s expected ship
    date (``expected_ship_date``: today from the shelf, else the restock date
    or the lead time; None unknown).

    Raises OutOfStock naming the first product that is short. The caller's
    transaction must then roll back (``transaction()`` does on the exception),
    so that nothing is taken for the other lines either.
    """
    merged = [line for line in _merged(lines) if line.quantity > 0]
    today = today or utcnow().date()
    ships: dict[tuple[int, int | None], dt.date | None] = {}
    await _reason(reason, order_id)
    for line in merged:
        params = {"q": line.quantity, "product": line.product_id, "variation": line.variation_id}
        row = await fetch_one(_TAKE_VARIATION if line.variation_id is not None else _TAKE_PRODUCT, params)
        if row is None:
            available = await _available(line)
            raise OutOfStock(line.name or f"product {line.product_id}", available)
        backordered, policy, restock_date, lead_time_days = row
        # One of shelf and owed is always 0, so something of this line is owed iff anything is.
        ships[(line.product_id, line.variation_id)] = expected_ship_date(
            policy, backordered == 0, restock_date, lead_time_days, today)
    await _reason("", None)
    return ships


async def give_back_stock(lines: Iterable[StockLine], order_id: int | None, reason: str) -> list[int]:
    """Return stock for ``lines`` (products or variations that still exist);
    inside a transaction. Units owed (backordered, made to order) are given
    back first: the trigger ``stock_backorder_net`` nets the shelf against
    them. Returns the ids of products that were out of stock and now are not
    (for back-in-stock notices)."""
    merged = [line for line in _merged(lines) if line.quantity > 0]
    restocked: list[int] = []
    await _reason(reason, order_id)
    for line in merged:
        if line.variation_id is not None:
            row = await fetch_one(
                "UPDATE product_variation SET stock_quantity = stock_quantity + %s "
                "WHERE id = %s RETURNING stock_quantity", [line.quantity, line.variation_id])
        else:
            row = await fetch_one(
                "UPDATE product SET stock_quantity = stock_quantity + %s "
                "WHERE id = %s RETURNING stock_quantity", [line.quantity, line.product_id])
        if row is not None and row[0] == line.quantity:  # (None: deleted since, nothing to give back to)
            restocked.append(line.product_id)
    await _reason("", None)
    return restocked


async def _available(line: StockLine) -> int | None:
    if line.variation_id is not None:
        row = await fetch_one("SELECT line_sellable_stock(p, v) FROM product_variation v "
                              "JOIN product p ON p.id = v.product_id WHERE v.id = %s", [line.variation_id])
    else:
        row = await fetch_one("SELECT sellable_stock(stock_policy, stock_quantity, backordered, backorder_limit) "
                              "FROM product WHERE id = %s", [line.product_id])
    return row[0] if row else None


async def _reason(reason: str, order_id: int | None) -> None:
    """Name the reason and order of the stock changes that follow in this
    transaction: the stock_movement triggers (migrations/0008_orders.sql)
    record each change with them ('' resets: later changes count as 'admin')."""
    await fetch_one("SELECT set_config('avantlush.stock_reason', %s, true), "
                    "set_config('avantlush.stock_order', %s, true)", [reason, str(order_id or "")])


async def order_lines(order_id: int) -> list[StockLine]:
    """The units the order still holds, line by line (less what line-level
    restocks already gave back)."""
    rows = await fetch_all("SELECT product_id, variation_id, quantity - restocked_quantity, product_name "
                           "FROM order_item WHERE order_id = %s AND product_id IS NOT NULL "
                           "AND quantity > restocked_quantity", [order_id])
    return [StockLine(r[0], r[1], r[2], r[3]) for r in rows]


async def restock_items(order_id: int, items: list[tuple[int, int]], reason: str = "refund") -> bool:
    """Give back ``quantity`` units of each ``(order_item id, quantity)`` of an
    order that still holds its stock (order locked by the caller), never more
    than a line still holds; the order stops holding stock once every unit is
    back. False when the order holds no stock."""
    held = await fetch_one("SELECT stock_held FROM orders WHERE id = %s", [order_id])
    if not held or not held[0] or not items:
        return False
    rows = {r[0]: r for r in await fetch_all(
        "SELECT id, product_id, variation_id, product_name, quantity - restocked_quantity FROM order_item "
        "WHERE order_id = %s AND product_id IS NOT NULL", [order_id])}
    back: list[StockLine] = []
    for item_id, quantity in items:
        row = rows.get(item_id)
        units = min(quantity, row[4]) if row else 0
        if units <= 0:
            continue
        await db.aio_execute_sql("UPDATE order_item SET restocked_quantity = restocked_quantity + %s WHERE id = %s",
                                 [units, item_id])
        back.append(StockLine(row[1], row[2], units, row[3]))
    await give_back_stock(back, order_id, reason)
    if not await order_lines(order_id):
        await db.aio_execute_sql("UPDATE orders SET stock_held = FALSE WHERE id = %s", [order_id])
    return bool(back)
