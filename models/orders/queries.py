"""The read side of orders: the customer's and the admin's lists, details,
tracking events, filter-by-date, status counts and the order form's customers.

Each page is ONE statement whatever its size: PostgreSQL builds every order's
JSON (items, payments, money as two-decimal strings, timestamps with ``Z``)
and the page total is carried along; the handler sends the JSON text as it is
(``orjson.Fragment``). The total comes from ``order_status_count`` (kept by
triggers) when the only filter is the status, so the admin's default list and
its status tabs never count a million rows; other filters count through the
indexes of migrations/0008_orders.sql. Statements run prepared
(``fetch_prepared``): planning would cost as much as running them (searches
excepted: their plan depends on the term). Built pages are kept per process
under the order version (a row bumped at every commit that changes orders,
items or payments), so a repeated list request costs one tiny read.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from models.catalog.queries import iso_sql
from models.core.db import fetch_all, fetch_one, fetch_prepared
from models.core.errors import NotFound
from models.orders.tables import STATUSES

ORDERINGS: dict[str, str] = {
    "created_at": "o.created_at ASC, o.id ASC",
    "-created_at": "o.created_at DESC, o.id DESC",
    "total": "o.total ASC, o.id ASC",
    "-total": "o.total DESC, o.id DESC",
    "order_number": "o.order_number ASC",
    "-order_number": "o.order_number DESC",
}
DEFAULT_ORDERING = "-created_at"
ESTIMATED_DAYS = 5  # without a shipping method's own estimate
SEARCH_COUNT_CAP = 10_000
ORDER_NUMBER = re.compile(r"ORD-\d{8}-\d{4,}", re.IGNORECASE)

_ITEM_JSON = """json_build_object(
    'id', i.id, 'product', i.product_id, 'product_name', i.product_name, 'product_sku', i.product_sku,
    'variation_id', i.variation_id, 'quantity', i.quantity, 'unit_price', i.unit_price::text,
    'total_price', i.total_price::text, 'variants', i.variants, 'product_image', media_url(p.main_image),
    'expected_ship_date', to_char(i.expected_ship_date, 'YYYY-MM-DD'))"""
_PAYMENT_JSON = f"""json_build_object(
    'id', pay.id, 'method', pay.method, 'provider', pay.provider, 'amount', pay.amount::text,
    'status', pay.status, 'transaction_id', pay.transaction_id, 'created_at', {iso_sql("pay.created_at")})"""

# One shipment as the API shows it (``s``: a shipment row), with its lines;
# models/fulfilment reads shipments with it too.
SHIPMENT_JSON = f"""json_build_object(
    'id', s.id, 'order_id', s.order_id, 'status', s.status, 'carrier', s.carrier,
    'tracking_number', nullif(s.tracking_number, ''), 'tracking_url', s.tracking_url, 'note', s.note,
    'lines', coalesce((SELECT json_agg(json_build_object('item_id', sl.order_item_id, 'product_name', oi.product_name,
                                                         'quantity', sl.quantity) ORDER BY sl.order_item_id)
                       FROM shipment_line sl JOIN order_item oi ON oi.id = sl.order_item_id
                       WHERE sl.shipment_id = s.id), '[]'::json),
    'created_at', {iso_sql("s.created_at")}, 'shipped_at', {iso_sql("s.shipped_at")},
    'delivered_at', {iso_sql("s.delivered_at")}, 'cancelled_at', {iso_sql("s.cancelled_at")},
    'cancel_reason', s.cancel_reason)"""

# One order as the API shows it (the spec's OrderSerializer), from ``o`` and
# the lateral ``it`` (items), ``pm`` (payments) and ``sh`` (shipments).
ORDER_JSON = f"""json_build_object(
    'id', o.id, 'order_number', o.order_number, 'customer_email', o.customer_email,
    'customer_name', o.customer_name, 'user_id', o.user_id, 'customer_id', o.customer_id,
    'items', coalesce(it.items, '[]'::json),
    'products_display_string', coalesce(it.first_name, '') || CASE
        WHEN it.n > 2 THEN ' +' || (it.n - 1) || ' other products'
        WHEN it.n = 2 THEN ' +1 other product' ELSE '' END,
    'subtotal', o.subtotal::text, 'discount', o.discount::text, 'shipping_cost', o.shipping_cost::text,
    'tax', o.tax::text, 'total', o.total::text,
    'status', o.status, 'status_display', initcap(replace(o.status, '_', ' ')), 'payment_status', o.payment_status,
    'payment', pm.payments -> 0, 'payments', coalesce(pm.payments, '[]'::json),
    'payment_method', o.payment_method, 'payment_type', o.payment_type, 'order_type', o.order_type,
    'shipping_address', o.shipping_address, 'shipping_city', o.shipping_city, 'shipping_state', o.shipping_state,
    'shipping_country', o.shipping_country, 'shipping_zip', o.shipping_zip, 'billing_address', o.billing_address,
    'shipping_method_id', o.shipping_method_id, 'delivery_date', to_char(o.delivery_date, 'YYYY-MM-DD'),
    'slot_held', o.slot_held, 'delivery_issue', o.delivery_issue, 'discount_lines', o.discount_lines,
    'estimated_delivery_date', to_char(coalesce(o.estimated_delivery_date, (o.created_at + interval '{ESTIMATED_DAYS} days')::date),
                                       'FMDay, FMMonth DD, YYYY'),
    'estimated_delivery_on', to_char(coalesce(o.estimated_delivery_date, (o.created_at + interval '{ESTIMATED_DAYS} days')::date),
                                     'YYYY-MM-DD'),
    'shipments', coalesce(sh.shipments, '[]'::json),
    'note', o.note, 'created_at', {iso_sql("o.created_at")}, 'updated_at', {iso_sql("o.updated_at")},
    'order_date', to_char(o.created_at, 'YYYY-MM-DD'), 'order_time', to_char(o.created_at, 'HH24:MI:SS'))"""

_LATERALS = f"""
LEFT JOIN LATERAL (
    SELECT json_agg({_ITEM_JSON} ORDER BY i.id) AS items, count(*) AS n,
           (array_agg(i.product_name ORDER BY i.id))[1] AS first_name
    FROM order_item i LEFT JOIN product p ON p.id = i.product_id WHERE i.order_id = o.id) it ON TRUE
LEFT JOIN LATERAL (
    SELECT json_agg({_PAYMENT_JSON} ORDER BY pay.id) AS payments
    FROM payment pay WHERE pay.order_id = o.id) pm ON TRUE
LEFT JOIN LATERAL (
    SELECT json_agg({SHIPMENT_JSON} ORDER BY s.id) AS shipments
    FROM shipment s WHERE s.order_id = o.id) sh ON TRUE"""


@dataclass
class OrderFilters:
    status: str | None = None
    start: dt.date | None = None  # created on or after
    end: dt.date | None = None    # created on or before
    search: str | None = None
    ordering: str = DEFAULT_ORDERING
    user_id: int | None = None
    customer_id: int | None = None
    payment_status: str | None = None
    delivery_issue: bool | None = None  # a delivery date to arrange (index orders_delivery_issue)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(f: OrderFilters) -> tuple[list[str], dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    if f.status:
        where.append("o.status = %(status)s")
        params["status"] = f.status
    if f.payment_status:
        where.append("o.payment_status = %(payment_status)s")
        params["payment_status"] = f.payment_status
    if f.start:
        where.append("o.created_at >= %(start)s")
        params["start"] = dt.datetime.combine(f.start, dt.time.min)
    if f.end:
        # The day after in SQL, as the customers' filters do: 9999-12-31 is
        # simply no upper bound (Python's dates end there).
        where.append("o.created_at < %(end)s::date + 1")
        params["end"] = f.end
    if f.user_id is not None:
        where.append("o.user_id = %(user_id)s")
        params["user_id"] = f.user_id
    if f.customer_id is not None:
        where.append("o.customer_id = %(customer_id)s")
        params["customer_id"] = f.customer_id
    if f.delivery_issue is not None:
        where.append("o.delivery_issue IS NOT NULL" if f.delivery_issue else "o.delivery_issue IS NULL")
    if f.search and ORDER_NUMBER.fullmatch(f.search.strip()):
        # A whole order number: the unique index, not a trigram search.
        where.append("o.order_number = %(order_number)s")
        params["order_number"] = f.search.strip().upper()
    elif f.search:
        # The expression of the orders_search_trgm index, so that it serves the match.
        where.append("(o.order_number || ' ' || o.customer_email || ' ' || o.customer_name) ILIKE %(search)s")
        params["search"] = _like(f.search)
    return where, params


def _count_sql(f: OrderFilters, where: list[str]) -> str:
    only_status = not (f.start or f.end or f.search or f.user_id is not None or f.customer_id is not None
                       or f.payment_status or f.delivery_issue is not None)
    if only_status:
        if f.status:
            return "(SELECT coalesce(sum(n), 0) FROM order_status_count WHERE status = %(status)s)"
        return "(SELECT coalesce(sum(n), 0) FROM order_status_count)"
    if f.search:
        # A short search term can match most orders ("ORD-2026"): counting
        # them all would cost seconds at a million orders, so a search's count
        # stops at SEARCH_COUNT_CAP (pages beyond it are not offered).
        return (f"(SELECT count(*) FROM (SELECT 1 FROM orders o WHERE {' AND '.join(where)} "
                f"LIMIT {SEARCH_COUNT_CAP}) capped)")
    return "(SELECT count(*) FROM orders o WHERE " + " AND ".join(where) + ")"


# Pages built under each order version (see migrations/0008_orders.sql), per
# process: the admin's table is read far more often than orders change.
PAGE_CACHE_SIZE = 512
_pages: "OrderedDict[tuple, tuple[int, bytes]]" = OrderedDict()


async def order_version() -> int | None:
    rows = await fetch_prepared("SELECT version FROM order_version", {})
    return rows[0][0] if rows else None


async def order_page(f: OrderFilters, page: int, size: int) -> tuple[int, Any]:
    """``(count, results)`` for one page; ``results`` is a JSON array as an
    ``orjson.Fragment``. Two statements at most: the order version, then —
    unless this page was already built under that version — the page."""
    version = await order_version()
    key = (version, dataclasses.astuple(f), page, size)
    if version is not None:
        hit = _pages.get(key)
        if hit is not None:
            _pages.move_to_end(key)
            return hit[0], orjson.Fragment(hit[1])
    count, text = await _build_page(f, page, size)
    if version is not None:
        _pages[key] = (count, text)
        while len(_pages) > PAGE_CACHE_SIZE:
            _pages.popitem(last=False)
    return count, orjson.Fragment(text)


async def _build_page(f: OrderFilters, page: int, size: int) -> tuple[int, bytes]:
    where, params = _where(f)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    params.update(limit=size, offset=(page - 1) * size)
    sql = (f"SELECT {_count_sql(f, where)}::bigint, "
           f"(SELECT coalesce(json_agg(x.j ORDER BY x.rn), '[]'::json)::text FROM ("
           f" SELECT {ORDER_JSON} AS j, o.rn FROM ("
           f"  SELECT o.*, row_number() OVER (ORDER BY {ORDERINGS[f.ordering]}) AS rn"
           f"  FROM orders o {clause} ORDER BY {ORDERINGS[f.ordering]}"
           f"  LIMIT %(limit)s OFFSET %(offset)s) o {_LATERALS}) x)")
    # A search is planned for its term (how many orders it matches decides
    # between walking the date index and the trigram index: a generic plan
    # would pick one for every term, seconds wrong for common ones).
    rows = await (fetch_all(sql, params) if f.search else fetch_prepared(sql, params))
    row = rows[0]
    return int(row[0]), row[1].encode()


async def order_payload(order_id: int, user_id: int | None = None) -> Any:
    """One order's JSON (an ``orjson.Fragment``). ``user_id`` limits it to that
    user's orders (a customer's own); NotFound otherwise."""
    sql = f"SELECT {ORDER_JSON}::text FROM orders o {_LATERALS} WHERE o.id = %(id)s"
    params: dict[str, Any] = {"id": order_id}
    if user_id is not None:
        sql += " AND o.user_id = %(user_id)s"
        params["user_id"] = user_id
    rows = await fetch_prepared(sql, params)
    if not rows:
        raise NotFound("Order not found")
    return orjson.Fragment(rows[0][0].encode())


async def order_payload_dict(order_id: int, user_id: int | None = None) -> dict:
    return orjson.loads(bytes(orjson.dumps(await order_payload(order_id, user_id))))


async def tracking_events(order_id: int, user_id: int | None = None) -> list[dict[str, Any]]:
    """The order's tracking events, oldest first, each with the shipment it is
    about (carrier, tracking number and URL; null for order-wide events).
    NotFound for another user's order."""
    await ensure_visible(order_id, user_id)
    rows = await fetch_all(
        f"SELECT t.id, t.status, t.location, t.description, {iso_sql('t.timestamp')}, t.shipment_id, s.carrier, "
        "nullif(s.tracking_number, ''), s.tracking_url FROM order_tracking t "
        "LEFT JOIN shipment s ON s.id = t.shipment_id WHERE t.order_id = %s ORDER BY t.timestamp, t.id", [order_id])
    return [{"id": r[0], "status": r[1], "location": r[2], "description": r[3], "timestamp": r[4],
             "shipment_id": r[5], "carrier": r[6], "tracking_number": r[7], "tracking_url": r[8]} for r in rows]


async def ensure_visible(order_id: int, user_id: int | None) -> None:
    sql = "SELECT 1 FROM orders WHERE id = %s" + (" AND user_id = %s" if user_id is not None else "")
    params = [order_id] + ([user_id] if user_id is not None else [])
    if await fetch_one(sql, params) is None:
        raise NotFound("Order not found")


async def orders_by_date(f: OrderFilters, limit: int = 1000) -> list[dict[str, Any]]:
    """``orders/filter-by-date/``: a plain array (newest first, at most ``limit``)."""
    where, params = _where(f)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    params["limit"] = limit
    rows = await fetch_all(
        f"SELECT o.id, o.order_number, o.customer_email, o.customer_name, o.total::text, o.status, "
        f"{iso_sql('o.created_at')} FROM orders o {clause} ORDER BY o.created_at DESC, o.id DESC "
        "LIMIT %(limit)s", params)
    return [{"id": r[0], "order_number": r[1], "customer_email": r[2], "customer_name": r[3], "total": r[4],
             "status": r[5], "created_at": r[6]} for r in rows]


async def status_counts() -> dict[str, Any]:
    """Counts and values per status for the filter tabs (reads the trigger-kept table)."""
    rows = await fetch_all("SELECT status, n, total_value FROM order_status_count")
    by_status = {s: (0, 0) for s in STATUSES}
    for status, n, value in rows:
        by_status[status] = (int(n), value)
    total_n = sum(n for n, _ in by_status.values())
    total_v = sum((v for _, v in by_status.values()), start=0)

    def entry(n: int, value: Any) -> dict[str, Any]:
        from models.core.db import average, money

        return {"count": n, "total_value": float(money(value)), "avg_order_value": float(average(value, n))}

    out = {"all": entry(total_n, total_v)}
    for status, (n, value) in by_status.items():
        out[status.lower()] = entry(n, value)
    return out


async def customers_for_order_form(search: str | None, limit: int = 100) -> list[dict[str, Any]]:
    """Customers for the "Select Customer" dropdown: active ones, by name."""
    params: dict[str, Any] = {"limit": limit}
    where = "c.status = 'active'"
    if search:
        where += " AND (c.name ILIKE %(q)s OR c.email ILIKE %(q)s)"
        params["q"] = _like(search)
    rows = await fetch_all(f"SELECT c.id, c.name, c.email, c.phone FROM customer c WHERE {where} "
                           "ORDER BY c.name, c.id LIMIT %(limit)s", params)
    return [{"id": r[0], "name": r[1], "email": r[2], "phone": r[3],
             "display_name": f"{r[1] or r[2]} ({r[2]})"} for r in rows]
