"""The admin lists of shipments and returns (and a customer's own returns):
filters, ordering, pages. Each page is ONE statement: the count and the
page's JSON built by PostgreSQL (indexes of migrations/0022)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from models.core.db import fetch_one
from models.fulfilment.returns import _RETURN_JSON, RETURN_FROM
from models.orders.queries import SHIPMENT_JSON, _like

ORDERINGS = {"created_at": "{t}.created_at ASC, {t}.id ASC", "-created_at": "{t}.created_at DESC, {t}.id DESC"}
DEFAULT_ORDERING = "-created_at"


@dataclass
class ListFilters:
    status: str | None = None
    carrier: str | None = None  # shipments only
    order_id: int | None = None
    user_id: int | None = None  # returns: a customer's own
    search: str | None = None  # order number, customer email; a shipment's tracking number
    start: dt.date | None = None
    end: dt.date | None = None
    ordering: str = DEFAULT_ORDERING


def where(f: ListFilters, t: str) -> tuple[list[str], dict[str, Any]]:
    """SQL conditions on the table aliased ``t`` (joined to its order ``o``)."""
    conds: list[str] = []
    params: dict[str, Any] = {}
    if f.status:
        conds.append(f"{t}.status = %(status)s")
        params["status"] = f.status
    if f.carrier and t == "s":
        conds.append("s.carrier = %(carrier)s")
        params["carrier"] = f.carrier
    if f.order_id is not None:
        conds.append(f"{t}.order_id = %(order_id)s")
        params["order_id"] = f.order_id
    if f.user_id is not None and t == "r":
        conds.append("r.user_id = %(user_id)s")
        params["user_id"] = f.user_id
    if f.start:
        conds.append(f"{t}.created_at >= %(start)s")
        params["start"] = dt.datetime.combine(f.start, dt.time.min)
    if f.end:
        conds.append(f"{t}.created_at < %(end)s::date + 1")
        params["end"] = f.end
    if f.search:
        tracking = "s.tracking_number = %(exact)s OR " if t == "s" else ""
        conds.append(f"({tracking}o.order_number = %(exact_upper)s OR o.customer_email ILIKE %(like)s)")
        params.update(exact=f.search, exact_upper=f.search.upper(), like=_like(f.search))
    return conds, params


async def _page(json: str, source: str, t: str, f: ListFilters, page: int, size: int) -> tuple[int, list]:
    conds, params = where(f, t)
    clause = ("WHERE " + " AND ".join(conds)) if conds else ""
    order = ORDERINGS[f.ordering].format(t=t)
    params.update(limit=size, offset=(page - 1) * size)
    row = await fetch_one(
        f"SELECT (SELECT count(*) {source} {clause}), "
        f"(SELECT coalesce(jsonb_agg(x.j ORDER BY x.rn), '[]'::jsonb) FROM ("
        f" SELECT {json} AS j, row_number() OVER (ORDER BY {order}) AS rn {source} {clause} "
        f" ORDER BY {order} LIMIT %(limit)s OFFSET %(offset)s) x)", params)
    return int(row[0]), row[1]


SHIPMENT_ROW = (f"{SHIPMENT_JSON}::jsonb || jsonb_build_object('order_number', o.order_number, "
                "'customer_email', o.customer_email, 'order_status', o.status)")
SHIPMENT_FROM = "FROM shipment s JOIN orders o ON o.id = s.order_id"


async def shipment_page(f: ListFilters, page: int, size: int) -> tuple[int, list]:
    """``(count, shipments)`` of one page. One statement."""
    return await _page(SHIPMENT_ROW, SHIPMENT_FROM, "s", f, page, size)


async def return_page(f: ListFilters, page: int, size: int) -> tuple[int, list]:
    """``(count, returns)`` of one page. One statement."""
    return await _page(_RETURN_JSON, RETURN_FROM, "r", f, page, size)
