"""Customers, read side: hand-written SQL with a fixed number of statements
(the list is one, whatever the page size), and the ``customers`` CSV export.

``orders_count`` and ``balance`` are columns kept by triggers on ``orders``
(migration 0009): ``balance`` is the value of the customer's sales (orders that
were not cancelled or returned and whose payment neither failed nor was refunded).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, AsyncIterator, Literal, Sequence

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from models.core import exports
from models.core.db import average, fetch_all, fetch_one, money
from models.core.errors import NotFound, ValidationFailed

NOT_FOUND = "Customer not found"
ORDERINGS = {
    "created_at": "c.created_at, c.id",
    "-created_at": "c.created_at DESC, c.id DESC",
    "name": "c.name, c.id",
    "-name": "c.name DESC, c.id DESC",
    "orders_count": "c.orders_count, c.id",
    "-orders_count": "c.orders_count DESC, c.id DESC",
    "balance": "c.balance, c.id",
    "-balance": "c.balance DESC, c.id DESC",
}
RECENT_ORDERS = 5
TS = "to_char({col}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _blank_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class CustomerFilters(BaseModel):
    """The list's (and export's, and select_all's) filters."""

    model_config = ConfigDict(extra="ignore")
    status: Annotated[Literal["active", "blocked"] | None, BeforeValidator(_lower), BeforeValidator(_blank_none)] = None
    search: Annotated[str | None, BeforeValidator(_blank_none)] = Field(default=None, max_length=100)
    ordering: Literal[tuple(ORDERINGS)] = "-created_at"  # type: ignore[valid-type]
    created_at_after: Annotated[dt.date | None, BeforeValidator(_blank_none)] = None
    created_at_before: Annotated[dt.date | None, BeforeValidator(_blank_none)] = None
    orders_count: Annotated[int | None, BeforeValidator(_blank_none)] = Field(default=None, ge=0, le=2**31 - 1)
    balance: Annotated[Decimal | None, BeforeValidator(_blank_none)] = Field(default=None, ge=0,
                                                                              max_digits=14, decimal_places=2)


def clean_filters(params: dict[str, Any]) -> dict[str, Any]:
    """Validated filters as a JSON-able dict (export jobs store them)."""
    try:
        data = CustomerFilters.model_validate(params)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for err in exc.errors():
            errors.setdefault(".".join(str(p) for p in err["loc"]) or "non_field_errors", []).append(err["msg"])
        raise ValidationFailed(errors=errors) from None
    return data.model_dump(mode="json")


def where_clause(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """SQL condition on ``customer c`` for ``filters`` (cleaned), and its parameters."""
    parts, params = ["TRUE"], []
    if filters.get("status"):
        parts.append("c.status = %s")
        params.append(filters["status"])
    if filters.get("search"):
        parts.append("(c.name || ' ' || c.email || ' ' || c.phone) ILIKE %s")
        term = filters["search"].strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(f"%{term}%")
    if filters.get("created_at_after"):
        parts.append("c.created_at >= %s::date")
        params.append(str(filters["created_at_after"]))
    if filters.get("created_at_before"):
        parts.append("c.created_at < %s::date + 1")
        params.append(str(filters["created_at_before"]))
    if filters.get("orders_count") is not None:
        parts.append("c.orders_count = %s")
        params.append(int(filters["orders_count"]))
    if filters.get("balance") is not None:
        parts.append("c.balance = %s::numeric")
        params.append(str(filters["balance"]))
    return " AND ".join(parts), params


_LIST_COLUMNS = ("c.id, c.name, c.email, c.phone, c.status, c.orders_count, c.balance, "
                 f"{TS.format(col='c.created_at')}")


def _row_payload(row: tuple) -> dict[str, Any]:
    cid, name, email, phone, status, orders_count, balance, created_at = row[:8]
    return {"id": cid, "name": name, "email": email, "phone": phone, "status": status,
            "orders_count": orders_count, "balance": f"{balance:.2f}", "created_at": created_at}


async def list_customers(filters: dict[str, Any], page: int, size: int) -> tuple[int, list[dict[str, Any]]]:
    """``(count, rows)`` of one page: one statement (the total rides along as a window count).

    Raises NotFound for a page past the end."""
    where, params = where_clause(filters)
    rows = await fetch_all(
        f"SELECT {_LIST_COLUMNS}, count(*) OVER () FROM customer c WHERE {where} "
        f"ORDER BY {ORDERINGS[filters.get('ordering') or '-created_at']} LIMIT %s OFFSET %s",
        [*params, size, (page - 1) * size])
    if not rows:
        if page > 1:
            raise NotFound("Invalid page.")
        return 0, []
    return rows[0][-1], [_row_payload(r) for r in rows]


_RECENT_ORDERS_SQL = f"""
  (SELECT coalesce(json_agg(json_build_object(
      'id', o.id, 'order_number', o.order_number, 'status', o.status,
      'total', to_char(o.total, 'FM9999999999990.00'), 'created_at', {TS.format(col='o.created_at')})
      ORDER BY o.created_at DESC, o.id DESC), '[]')
   FROM (SELECT * FROM orders WHERE customer_id = c.id ORDER BY created_at DESC, id DESC LIMIT {RECENT_ORDERS}) o)
"""

_ADDRESS_COLUMNS = "full_name, email, phone_number, street_address, city, state, zip_code, country"


async def customer_detail(customer_id: int) -> dict[str, Any]:
    """One customer with the detail view's extras (default address, last login,
    photo, recent orders): one statement. Raises NotFound."""
    row = await fetch_one(f"""
        SELECT {_LIST_COLUMNS}, c.country_code, c.local_phone_number, c.user_id,
               {TS.format(col='u.last_login')}, media_url(p.photo_url),
               coalesce(
                 (SELECT row_to_json(a) FROM (SELECT {_ADDRESS_COLUMNS} FROM address
                   WHERE user_id = c.user_id ORDER BY is_default DESC, created_at DESC, id DESC LIMIT 1) a),
                 (SELECT row_to_json(a) FROM (SELECT {_ADDRESS_COLUMNS} FROM customer_address
                   WHERE customer_id = c.id) a)),
               {_RECENT_ORDERS_SQL}
        FROM customer c LEFT JOIN users u ON u.id = c.user_id LEFT JOIN profile p ON p.user_id = c.user_id
        WHERE c.id = %s""", [customer_id])
    if row is None:
        raise NotFound(NOT_FOUND)
    data = _row_payload(row)
    country_code, local, user_id, last_login, photo, address, recent = row[8:]
    recent = _json(recent)
    data.update({
        "country_code": country_code,
        "local_phone_number": local,
        "user_id": user_id,
        "user_details": {"last_login": last_login, "profile_photo_url": photo},
        "default_address": _json(address),
        "recent_orders": recent,
        "last_transaction_date": recent[0]["created_at"][:10] if recent else None,
    })
    return data


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _status_key(status: str) -> str:
    return "completed" if status == "DELIVERED" else status.lower()


async def customer_statistics(customer_id: int, statuses: Sequence[str]) -> dict[str, Any]:
    """Lifetime figures of one customer (one statement). Raises NotFound.

    total_spent counts sales only (see the module docstring); avg_order_value is
    total_spent over the number of sales."""
    # ``statuses``: every order status (the orders domain's list, passed down by the caller).
    counts = ", ".join(f"count(*) FILTER (WHERE o.status = '{s}')" for s in statuses)
    # Abandoned-cart episodes of the customer's account.
    abandoned = "(SELECT count(*) FROM abandoned_cart a WHERE a.user_id = c.user_id)"
    row = await fetch_one(f"""
        SELECT c.id, {abandoned}, s.*, {_RECENT_ORDERS_SQL}
        FROM customer c LEFT JOIN LATERAL (
          SELECT count(*), coalesce(sum(order_revenue(o.payment_status, o.total, o.refunded_amount)), 0),
                 count(*) FILTER (WHERE order_is_paid(o.payment_status)),
                 count(*) FILTER (WHERE o.created_at >= date_trunc('month', timezone('utc', now()))),
                 {counts}
          FROM orders o WHERE o.customer_id = c.id) s ON TRUE
        WHERE c.id = %s""", [customer_id])
    if row is None:
        raise NotFound(NOT_FOUND)
    _, abandoned_carts, total, spent, sales, monthly, *status_counts, recent = row

    return {
        "total_orders": total,
        "total_spent": f"{money(spent):.2f}",
        "monthly_orders": monthly,
        "avg_order_value": f"{average(spent, sales):.2f}",
        "abandoned_carts_count": abandoned_carts,
        "order_status_counts": {_status_key(s): n for s, n in zip(statuses, status_counts)},
        "recent_orders": _json(recent),
    }


TRANSACTION_ORDERINGS = {"-created_at": "o.created_at DESC, o.id DESC", "created_at": "o.created_at, o.id",
                         "-total": "o.total DESC, o.id DESC", "total": "o.total, o.id"}


async def customer_transactions(customer_id: int, filters: dict[str, Any], page: int,
                                size: int) -> tuple[int, list[dict[str, Any]]]:
    """A customer's orders, newest first, paginated: two statements whatever the page size
    (the customer's existence, then the page with its total). Raises NotFound."""
    if await fetch_one("SELECT 1 FROM customer WHERE id = %s", [customer_id]) is None:
        raise NotFound(NOT_FOUND)
    parts, params = ["o.customer_id = %s"], [customer_id]
    if filters.get("status"):
        parts.append("o.status = %s")
        params.append(filters["status"])
    if filters.get("created_at_after"):
        parts.append("o.created_at >= %s::date")
        params.append(str(filters["created_at_after"]))
    if filters.get("created_at_before"):
        parts.append("o.created_at < %s::date + 1")
        params.append(str(filters["created_at_before"]))
    rows = await fetch_all(f"""
        SELECT o.id, o.order_number, o.customer_name, o.customer_email, o.status, o.payment_status,
               o.payment_method, o.total, {TS.format(col='o.created_at')},
               (SELECT product_name FROM order_item WHERE order_id = o.id ORDER BY id LIMIT 1),
               (SELECT count(*) FROM order_item WHERE order_id = o.id),
               count(*) OVER ()
        FROM orders o WHERE {' AND '.join(parts)}
        ORDER BY {TRANSACTION_ORDERINGS[filters.get('ordering') or '-created_at']} LIMIT %s OFFSET %s""",
                           [*params, size, (page - 1) * size])
    if not rows:
        if page > 1:
            raise NotFound("Invalid page.")
        return 0, []
    out = []
    for (oid, number, name, email, status, pay_status, method, total, created, first, items, _n) in rows:
        display = first or ""
        if items > 1:
            display += f" +{items - 1} other product{'s' if items > 2 else ''}"
        out.append({"id": oid, "order_number": number, "customer_name": name, "customer_email": email,
                    "products_display_string": display, "items_count": items, "total": f"{total:.2f}",
                    "status": status, "status_display": status.replace("_", " ").title(), "payment_status": pay_status,
                    "payment": {"method": method, "status": pay_status}, "created_at": created})
    return rows[0][-1], out


# --- export ------------------------------------------------------------------------

async def _export_rows(filters: dict[str, Any]) -> AsyncIterator[list[list[Any]]]:
    where, params = where_clause(filters)
    sql = (f"SELECT c.id, c.name, c.email, c.phone, initcap(c.status), c.orders_count, "
           f"'$' || to_char(c.balance, 'FM999999999990.00'), to_char(c.created_at, 'YYYY-MM-DD') "
           f"FROM customer c WHERE {where} ORDER BY {ORDERINGS[filters.get('ordering') or '-created_at']}")
    async for batch in exports.fetch_batches(sql, params):
        yield [list(r) for r in batch]


exports.register(exports.ExportKind(
    name="customers",
    header=("ID", "Name", "Email", "Phone", "Status", "Orders", "Total Balance", "Created"),
    rows=_export_rows,
    clean_filters=clean_filters,
    filename="customers.csv",
))

