"""The orders CSV export (``GET /api/orders/export/``), registered with
``models.core.exports``: the list's filters, rows read through a server-side cursor."""
from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any, AsyncIterator

from models.core import exports
from models.core.errors import ValidationFailed
from models.orders.queries import OrderFilters, _where
from models.orders.tables import STATUSES

HEADER = ("Order ID", "Date", "Customer", "Email", "Items", "Total", "Status", "Payment Method", "Payment Status")


def clean_order_filters(params: dict[str, Any]) -> dict[str, Any]:
    """The list's filters from query-string values (JSON-safe, for export jobs)."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    status = (params.get("status") or "").strip().upper()
    if status:
        if status not in STATUSES:
            errors["status"] = [f'"{params["status"]}" is not a valid choice.']
        out["status"] = status
    for name, alias in (("start_date", "created_at_after"), ("end_date", "created_at_before")):
        value = str(params.get(name) or params.get(alias) or "").strip()
        if value:
            try:
                out[name] = dt.date.fromisoformat(value).isoformat()
            except ValueError:
                errors[name] = ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]
    search = str(params.get("search") or "").strip()
    if search:
        out["search"] = search[:200]
    for name in ("user_id", "customer_id"):
        value = str(params.get(name) or "").strip()
        if value:
            if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**31:
                errors[name] = ["A valid integer is required."]
            else:
                out[name] = int(value)
    if errors:
        raise ValidationFailed(errors=errors)
    return out


def _filters(clean: dict[str, Any]) -> OrderFilters:
    return OrderFilters(status=clean.get("status"),
                        start=dt.date.fromisoformat(clean["start_date"]) if clean.get("start_date") else None,
                        end=dt.date.fromisoformat(clean["end_date"]) if clean.get("end_date") else None,
                        search=clean.get("search"), user_id=clean.get("user_id"),
                        customer_id=clean.get("customer_id"))


async def _rows(clean: dict[str, Any]) -> AsyncIterator[list[list[Any]]]:
    where, params = _where(_filters(clean))
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    sql = ("SELECT o.order_number, to_char(o.created_at, 'YYYY-MM-DD HH24:MI'), o.customer_name, o.customer_email, "
           "(SELECT string_agg(i.product_name || ' (x' || i.quantity || ')', ', ' ORDER BY i.id) "
           " FROM order_item i WHERE i.order_id = o.id), o.total, initcap(replace(o.status, '_', ' ')), "
           "coalesce(nullif(o.payment_method, ''), o.payment_type), o.payment_status "
           f"FROM orders o {clause} ORDER BY o.created_at DESC, o.id DESC")
    async with contextlib.aclosing(exports.fetch_batches(sql, params)) as batches:
        async for batch in batches:
            yield [list(r[:4]) + [r[4] or ""] + list(r[5:]) for r in batch]


exports.register(exports.ExportKind(
    name="orders",
    header=HEADER,
    rows=_rows,
    clean_filters=clean_order_filters,
    filename="orders.csv",
))
