"""Stock policy: what a product (and its variations) can sell beyond the
shelf, and when a line is expected to ship. The one home of these rules.

- ``deny`` (default): only what is on the shelf (``stock_quantity``).
- ``backorder``: beyond the shelf up to ``backorder_limit`` units owed at once;
  units sold beyond the shelf ship on ``restock_date``.
- ``made_to_order``: no limit; units beyond the shelf ship ``lead_time_days``
  after the order.

Units sold beyond the shelf are counted in ``backordered`` (product or
variation); ``stock_quantity`` never goes negative and one of the two is
always 0 (stock that arrives covers what is owed first: trigger
``stock_backorder_net``, migrations/0023). SQL twin of ``sellable_stock``:
``sellable_stock(policy, stock, backordered, backorder_limit)`` (0023; tested equal).
"""
from __future__ import annotations

import datetime as dt

STOCK_POLICIES = ("deny", "backorder", "made_to_order")
DEFAULT_POLICY = "deny"
# What "no limit" is for made-to-order (the SQL twin returns the same number).
UNLIMITED = 1_000_000_000
MAX_LEAD_TIME_DAYS = 365


def sellable_stock(policy: str, stock: int, backordered: int = 0, backorder_limit: int = 0) -> int:
    """Units that can be sold now (the cart's and the order's limit)."""
    if policy == "made_to_order":
        return UNLIMITED
    if policy == "backorder":
        return stock + max(backorder_limit - backordered, 0)
    return stock


def expected_ship_date(policy: str, from_shelf: bool, restock_date: dt.date | None, lead_time_days: int,
                       today: dt.date) -> dt.date | None:
    """When a line leaves the warehouse: ``today`` when the shelf covers it;
    otherwise the restock date (``backorder``; never before today; None when
    staff gave none) or today plus the lead time (``made_to_order``). None for
    a ``deny`` line the shelf does not cover (it cannot be sold)."""
    if from_shelf:
        return today
    if policy == "backorder":
        return max(restock_date, today) if restock_date is not None else None
    if policy == "made_to_order":
        return today + dt.timedelta(days=max(0, int(lead_time_days or 0)))
    return None


def iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None
