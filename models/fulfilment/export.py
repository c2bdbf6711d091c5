"""CSV exports of shipments and returns (``GET /api/shipments/export/``,
``/api/returns/export/``), registered with ``models.core.exports``: the
lists' filters, rows read through a server-side cursor."""
from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any, AsyncIterator

from models.core import exports
from models.core.errors import ValidationFailed
from models.fulfilment import queries, returns, shipments
from models.fulfilment.carriers import CARRIERS

SHIPMENT_HEADER = ("Shipment ID", "Order", "Customer Email", "Created", "Status", "Carrier", "Tracking Number",
                   "Tracking URL", "Items", "Shipped At", "Delivered At")
RETURN_HEADER = ("Return ID", "Order", "Customer Email", "Requested", "Status", "Reason", "Items", "Refund Amount",
                 "Restocking Fee", "Refunded At")


def _clean(params: dict[str, Any], statuses: tuple[str, ...], carriers: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    status = (params.get("status") or "").strip().lower()
    if status:
        if status not in statuses:
            errors["status"] = [f'"{params["status"]}" is not a valid choice.']
        out["status"] = status
    carrier = (params.get("carrier") or "").strip().lower()
    if carriers and carrier:
        if carrier not in CARRIERS:
            errors["carrier"] = [f'"{params["carrier"]}" is not a valid choice.']
        out["carrier"] = carrier
    for name in ("start_date", "end_date"):
        value = str(params.get(name) or "").strip()
        if value:
            try:
                out[name] = dt.date.fromisoformat(value).isoformat()
            except ValueError:
                errors[name] = ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]
    value = str(params.get("order_id") or "").strip()
    if value:
        if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**31:
            errors["order_id"] = ["A valid integer is required."]
        else:
            out["order_id"] = int(value)
    search = str(params.get("search") or "").strip()
    if search:
        out["search"] = search[:200]
    if errors:
        raise ValidationFailed(errors=errors)
    return out


def _filters(clean: dict[str, Any]) -> queries.ListFilters:
    return queries.ListFilters(
        status=clean.get("status"), carrier=clean.get("carrier"), order_id=clean.get("order_id"),
        search=clean.get("search"),
        start=dt.date.fromisoformat(clean["start_date"]) if clean.get("start_date") else None,
        end=dt.date.fromisoformat(clean["end_date"]) if clean.get("end_date") else None)


async def _shipment_rows(clean: dict[str, Any]) -> AsyncIterator[list[list[Any]]]:
    conds, params = queries.where(_filters(clean), "s")
    clause = ("WHERE " + " AND ".join(conds)) if conds else ""
    sql = ("SELECT s.id, o.order_number, o.customer_email, to_char(s.created_at, 'YYYY-MM-DD HH24:MI'), s.status, "
           "s.carrier, s.tracking_number, coalesce(s.tracking_url, ''), "
           "(SELECT string_agg(i.product_name || ' (x' || sl.quantity || ')', ', ' ORDER BY i.id) "
           " FROM shipment_line sl JOIN order_item i ON i.id = sl.order_item_id WHERE sl.shipment_id = s.id), "
           "coalesce(to_char(s.shipped_at, 'YYYY-MM-DD HH24:MI'), ''), "
           "coalesce(to_char(s.delivered_at, 'YYYY-MM-DD HH24:MI'), '') "
           f"{queries.SHIPMENT_FROM} {clause} ORDER BY s.created_at DESC, s.id DESC")
    async with contextlib.aclosing(exports.fetch_batches(sql, params)) as batches:
        async for batch in batches:
            yield [[*r[:8], r[8] or "", *r[9:]] for r in batch]


async def _return_rows(clean: dict[str, Any]) -> AsyncIterator[list[list[Any]]]:
    conds, params = queries.where(_filters(clean), "r")
    clause = ("WHERE " + " AND ".join(conds)) if conds else ""
    sql = ("SELECT r.id, o.order_number, o.customer_email, to_char(r.created_at, 'YYYY-MM-DD HH24:MI'), r.status, "
           "r.reason, (SELECT string_agg(i.product_name || ' (x' || rl.quantity || ')', ', ' ORDER BY i.id) "
           " FROM return_line rl JOIN order_item i ON i.id = rl.order_item_id WHERE rl.return_id = r.id), "
           "r.refund_amount, r.restocking_fee, coalesce(to_char(r.refunded_at, 'YYYY-MM-DD HH24:MI'), '') "
           f"{returns.RETURN_FROM} {clause} ORDER BY r.created_at DESC, r.id DESC")
    async with contextlib.aclosing(exports.fetch_batches(sql, params)) as batches:
        async for batch in batches:
            yield [[*r[:6], r[6] or "", *r[7:]] for r in batch]


exports.register(exports.ExportKind(
    name="shipments", header=SHIPMENT_HEADER, rows=_shipment_rows, filename="shipments.csv",
    clean_filters=lambda params: _clean(params, shipments.STATUSES, carriers=True)))
exports.register(exports.ExportKind(
    name="returns", header=RETURN_HEADER, rows=_return_rows, filename="returns.csv",
    clean_filters=lambda params: _clean(params, returns.STATUSES, carriers=False)))
