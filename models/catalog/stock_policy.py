"""Stock policy: what a product (and its variations) can sell beyond the
shelf, and when a line is expected to ship. The one home of these rules.

- ``deny`` (default): only what is on the shelf (``stock_quantity``).
- ``backorder``: beyond the shelf up to ``backorder_limit`` units owed at once;
  units sold beyond the shelf ship on ``restock_date``.
- ``made_to_order``: no limit; units beyond the shelf ship ``lead_time_days``
  after the order.

A variation may override its product's terms (policy, backorder limit,
restock date, lead time; migrations/0027), field by field: NULL inherits
the product's value (``effective_terms``). Units sold beyond the shelf are
counted in ``backordered`` (product or variation: a variation's limit counts
its own units owed); ``stock_quantity`` never goes negative and one of the
two is always 0 (stock that arrives covers what is owed first: trigger
``stock_backorder_net``, migrations/0023).

SQL twins (tests check they agree): ``sellable_stock(policy, stock,
backordered, backorder_limit)`` (0023); ``stock_terms(p, v)`` of
``effective_terms`` and ``line_sellable_stock(p, v)`` of ``sellable_stock``
under them (0027).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

STOCK_POLICIES = ("deny", "backorder", "made_to_order")
DEFAULT_POLICY = "deny"
# What "no limit" is for made-to-order (the SQL twin returns the same number).
UNLIMITED = 1_000_000_000
MAX_LEAD_TIME_DAYS = 365


@dataclass(frozen=True)
class StockTerms:
    """The stock policy in force for a product or variation (SQL type ``stock_terms``)."""

    policy: str = DEFAULT_POLICY
    backorder_limit: int = 0
    restock_date: dt.date | None = None
    lead_time_days: int = 0


def effective_terms(product: StockTerms, policy: str | None = None, backorder_limit: int | None = None,
                    restock_date: dt.date | None = None, lead_time_days: int | None = None) -> StockTerms:
    """The terms of a variation: each of its own values when set (not None),
    else its product's. SQL twin: ``stock_terms(p, v)`` (migrations/0027)."""
    return StockTerms(policy if policy is not None else product.policy,
                      backorder_limit if backorder_limit is not None else product.backorder_limit,
                      restock_date if restock_date is not None else product.restock_date,
                      lead_time_days if lead_time_days is not None else product.lead_time_days)


def terms_sql(field: str, product: str = "p", variation: str = "v") -> str:
    """One field of the effective terms in SQL (``stock_terms``: PostgreSQL
    inlines it to a COALESCE of the two columns)."""
    assert field in StockTerms.__dataclass_fields__
    return f"(stock_terms({product}, {variation})).{field}"


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


def ship_date_for(terms: StockTerms, stock: int, backordered: int, quantity: int,
                  today: dt.date) -> dt.date | None:
    """When ``quantity`` units bought ``today`` would ship (``expected_ship_date``),
    or None when they cannot be sold now (beyond ``sellable_stock``)."""
    if sellable_stock(terms.policy, stock, backordered, terms.backorder_limit) < quantity:
        return None
    return expected_ship_date(terms.policy, quantity <= stock, terms.restock_date, terms.lead_time_days, today)


def iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None
