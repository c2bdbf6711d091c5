"""Returns: a customer asks to send back some units of a delivered order
(within ``RETURN_WINDOW_DAYS`` of their delivery, with a reason); staff
approve or reject it, mark it received, and refund it — all or some of its
units, each line restocked or not, optionally less a restocking fee —
through the one refund action (models/checkout/refunds.py ``refund_order``:
the provider is called, never more than was captured less refunds, each
attempt a ``refund`` row). Statuses: requested → approved | rejected;
approved → received | rejected; received → refunded. Each step emails the
customer (``tasks.fulfilment.return_updated``, through the outbox).

An order whose every unit came back (in returns received, refunded or not)
becomes RETURNED when the last of them is received (``follow_returns``;
through the order's transition table: from SHIPPED, DELIVERED or DAMAGED; a
fully refunded order then goes on to REFUNDED). "Every unit": each line's
units to ship in all (models/fulfilment/shipments.py ``_unshipped``: its
quantity less units refunded outside a return before they shipped). The
customer's email is the return's ("We received your returned items"), not a
second one for the order's status.

Exactly once: the return row is locked at each step; a return is refunded
once (``refund.return_id``: the refund action refuses a second attempt while
one has not failed, and the unique index ``refund_return_once`` of migration
0022 backs it), and a line's stock goes back once (models/orders/stock.py
``restock_items`` counts ``order_item.restocked_quantity``).

Triggers (migrations/README.md): the refund's rows move ``refund_daily``
(revenue goes down on the refund's day, 0022 refund_daily_change); an order
becoming RETURNED moves its status counts and daily rollup row
(order_status_count_change, order_rollups_change; revenue does not depend on
the status).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import settings
from models.checkout import refunds
from models.core.db import fetch_all, fetch_one, money, transaction, utcnow
from models.core.errors import AppError, Conflict, NotFound, ValidationFailed
from models.core.jobs import enqueue
from models.fulfilment.shipments import _unshipped
from models.orders import actions as orders
from models.orders.actions import InvalidTransition
from models.orders.tables import TRANSITIONS as ORDER_TRANSITIONS

STATUSES = ("requested", "approved", "rejected", "received", "refunded")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "requested": ("approved", "rejected"),
    "approved": ("received", "rejected"),
    "received": ("refunded",),
    "rejected": (),
    "refunded": (),
}


# A return gives money back: the order's payment must have come in and not all gone back.
REFUNDABLE_PAYMENT_STATUSES = ("PAID", "PARTIALLY_REFUNDED")


class NotReturnable(AppError):
    status = 400


_RETURN_JSON = """jsonb_build_object(
    'id', r.id, 'order_id', r.order_id, 'order_number', o.order_number, 'user_id', r.user_id,
    'customer_email', o.customer_email, 'status', r.status, 'reason', r.reason, 'staff_note', r.staff_note,
    'lines', coalesce((SELECT json_agg(json_build_object('item_id', rl.order_item_id, 'product_name', i.product_name,
                                                         'quantity', rl.quantity, 'unit_price', i.unit_price::text)
                                       ORDER BY rl.order_item_id)
                       FROM return_line rl JOIN order_item i ON i.id = rl.order_item_id WHERE rl.return_id = r.id),
                      '[]'::json),
    'refund_id', r.refund_id, 'refund_amount', r.refund_amount::text, 'restocking_fee', r.restocking_fee::text,
    'created_at', to_char(r.created_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'decided_at', to_char(r.decided_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'received_at', to_char(r.received_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'refunded_at', to_char(r.refunded_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))"""
RETURN_FROM = "FROM order_return r JOIN orders o ON o.id = r.order_id"


async def return_payload(return_id: int, user_id: int | None = None) -> dict[str, Any]:
    """One return as the API shows it (``user_id``: only that user's; NotFound otherwise)."""
    sql = f"SELECT {_RETURN_JSON} {RETURN_FROM} WHERE r.id = %s"
    params: list[Any] = [return_id]
    if user_id is not None:
        sql += " AND r.user_id = %s"
        params.append(user_id)
    row = await fetch_one(sql, params)
    if row is None:
        raise NotFound("Return not found")
    return row[0]


async def _delivered(order_id: int, status: str) -> tuple[dict[int, int], dt.datetime | None]:
    """Units delivered per order item, and when the last of them arrived.
    An order marked DELIVERED by staff without shipments: all of it, at its
    DELIVERED tracking event."""
    rows = await fetch_all(
        "SELECT sl.order_item_id, sum(sl.quantity), max(s.delivered_at) FROM shipment s "
        "JOIN shipment_line sl ON sl.shipment_id = s.id WHERE s.order_id = %s AND s.status = 'delivered' "
        "GROUP BY 1", [order_id])
    if rows:
        return {r[0]: int(r[1]) for r in rows}, max(r[2] for r in rows)
    if status != "DELIVERED":
        return {}, None
    items = await fetch_all("SELECT id, quantity FROM order_item WHERE order_id = %s", [order_id])
    when = await fetch_one("SELECT max(timestamp) FROM order_tracking WHERE order_id = %s AND status = 'DELIVERED'",
                           [order_id])
    return {i: q for i, q in items}, when[0] if when else None


async def request_return(order_id: int, user_id: int | None, lines: list[dict[str, int]],
                         reason: str) -> dict[str, Any]:
    """A customer's return of ``lines`` (``{"item_id", "quantity"}``) of their
    delivered order (``user_id`` None: staff on the customer's behalf).

    Raises NotFound (not the user's order), NotReturnable (400: nothing
    delivered, delivered more than RETURN_WINDOW_DAYS ago, or a payment not
    refundable), ValidationFailed (400: items not the order's, more units than
    were delivered and not returned or refunded yet).
    """
    if not lines:
        raise ValidationFailed(errors={"lines": ["Name at least one item to return."]})
    async with transaction():
        row = await fetch_one("SELECT status, user_id, payment_status FROM orders WHERE id = %s FOR UPDATE",
                              [order_id])
        if row is None or (user_id is not None and row[1] != user_id):
            raise NotFound("Order not found")
        status, owner, payment_status = row
        delivered, when = await _delivered(order_id, status)
        if not delivered:
            text = "Only delivered items can be returned."
            raise NotReturnable(text, {"order": [text]})
        if payment_status not in REFUNDABLE_PAYMENT_STATUSES:
            text = f"This order's payment is {payment_status}: there is nothing to give back for a return."
            raise NotReturnable(text, {"order": [text]})
        days = settings.RETURN_WINDOW_DAYS
        if when is not None and utcnow() - when > dt.timedelta(days=days):
            text = f"Items can be returned within {days} days of their delivery."
            raise NotReturnable(text, {"order": [text]})
        # Units in returns not rejected, and units refunded outside any return (e.g. a damaged one).
        returned = {r[0]: int(r[1]) for r in await fetch_all(
            "SELECT item_id, sum(quantity) FROM ("
            " SELECT rl.order_item_id AS item_id, rl.quantity FROM return_line rl "
            " JOIN order_return r ON r.id = rl.return_id WHERE r.order_id = %s AND r.status <> 'rejected' "
            " UNION ALL "
            " SELECT (l ->> 'item_id')::int, (l ->> 'quantity')::int FROM refund f, jsonb_array_elements(f.lines) l "
            " WHERE f.order_id = %s AND f.status <> 'failed' AND f.return_id IS NULL) x GROUP BY 1",
            [order_id, order_id])}
        wanted: dict[int, int] = {}
        for line in lines:
            wanted[line["item_id"]] = wanted.get(line["item_id"], 0) + line["quantity"]
        errors: dict[str, list[str]] = {}
        for n, (item_id, quantity) in enumerate(wanted.items()):
            if item_id not in delivered:
                errors[f"lines.{n}.item_id"] = [f'Invalid pk "{item_id}" - not a delivered item of this order.']
                continue
            left = delivered[item_id] - returned.get(item_id, 0)
            if quantity > left:
                errors[f"lines.{n}.quantity"] = [f"At most {left} unit(s) of this item can be returned."]
        if errors:
            raise ValidationFailed(errors=errors)
        now = utcnow()
        (return_id,) = await fetch_one(
            "INSERT INTO order_return (order_id, user_id, status, reason, created_at, updated_at) "
            "VALUES (%s, %s, 'requested', %s, %s, %s) RETURNING id", [order_id, owner, reason, now, now])
        await fetch_all("INSERT INTO return_line (return_id, order_item_id, quantity) "
                        "SELECT %s, * FROM unnest(%s::int[], %s::int[]) RETURNING return_id",
                        [return_id, list(wanted), list(wanted.values())])
        await enqueue("tasks.fulfilment.return_updated", return_id, "requested")
    return await return_payload(return_id)


async def _lock_return(return_id: int) -> tuple:
    """Lock the return's order, then the return (the refund action locks orders first too)."""
    row = await fetch_one("SELECT order_id FROM order_return WHERE id = %s", [return_id])
    if row is None:
        raise NotFound("Return not found")
    await fetch_one("SELECT id FROM orders WHERE id = %s FOR UPDATE", [row[0]])
    return await fetch_one("SELECT id, order_id, status FROM order_return WHERE id = %s FOR UPDATE", [return_id])


def _check(current: str, new: str) -> None:
    if new not in TRANSITIONS[current]:
        allowed = ", ".join(TRANSITIONS[current]) or "none"
        text = f"Cannot change return status from {current} to {new}."
        raise InvalidTransition(text, {"status": [f"Cannot change from {current} to {new}. Allowed: {allowed}."]})


async def move_return(return_id: int, new: str, note: str = "") -> dict[str, Any]:
    """Staff approve, reject or receive a return (legal steps only:
    InvalidTransition, 400, otherwise); the customer is emailed."""
    if new not in ("approved", "rejected", "received"):
        raise ValidationFailed(errors={"status": [f'"{new}" is not a valid choice.']})
    async with transaction():
        _id, _order, current = await _lock_return(return_id)
        _check(current, new)
        stamp = "received_at" if new == "received" else "decided_at"
        await fetch_one(
            f"UPDATE order_return SET status = %s, {stamp} = %s, updated_at = %s, "
            "staff_note = CASE WHEN %s <> '' THEN %s ELSE staff_note END WHERE id = %s RETURNING id",
            [new, utcnow(), utcnow(), note, note, return_id])
        await enqueue("tasks.fulfilment.return_updated", return_id, new, note)
        if new == "received":
            await follow_returns(_order)
    return await return_payload(return_id)


async def follow_returns(order_id: int) -> str | None:
    """RETURNED for a (locked) order whose every unit to ship came back in
    returns received (or refunded), where its transitions allow it; None
    when it stays."""
    back = {r[0]: int(r[1]) for r in await fetch_all(
        "SELECT rl.order_item_id, sum(rl.quantity) FROM return_line rl JOIN order_return r ON r.id = rl.return_id "
        "WHERE r.order_id = %s AND r.status IN ('received', 'refunded') GROUP BY 1", [order_id])}
    owed = await _unshipped(order_id)
    if not back or any(back.get(item, 0) < units for item, (units, _in, _name) in owed.items()):
        return None
    current = (await fetch_one("SELECT status FROM orders WHERE id = %s", [order_id]))[0]
    if "RETURNED" not in ORDER_TRANSITIONS.get(current, ()):
        return None
    await orders.move_status(order_id, "RETURNED", notify=False, description="Every item came back")
    return "RETURNED"


async def refund_return(return_id: int, *, lines: list[dict[str, Any]] | None = None, restock: bool = True,
                        restocking_fee: Decimal | None = None, reason: str = "",
                        actor_id: int | None = None) -> dict[str, Any]:
    """Refund a received return through the order's gateway: ``lines``
    (``{"item_id", "quantity", "restock"?}``, default every returned unit)
    at their cost (the order's discount shared out) less ``restocking_fee``;
    each line's stock goes back when its ``restock`` (default ``restock``) says so.

    Raises NotFound, InvalidTransition (400: not received yet), ValidationFailed
    (400: lines not in the return, a fee beyond their cost), Conflict (409:
    refunded already, or another refund of it is in progress), and what
    ``refunds.refund_order`` raises (RefundFailed 502: the return stays
    received and may be refunded again).
    """
    async with transaction():
        _id, order_id, current = await _lock_return(return_id)
        if current == "refunded":
            raise Conflict("This return was refunded already.", {"status": ["refunded"]})
        if current == "received" and await _settle_refunded(return_id):
            raise Conflict("This return was refunded already.", {"status": ["refunded"]})
        _check(current, "refunded")
        returned = {r[0]: r[1] for r in await fetch_all(
            "SELECT order_item_id, quantity FROM return_line WHERE return_id = %s ORDER BY order_item_id",
            [return_id])}
    picked: list[dict[str, Any]] = []
    if lines:
        errors: dict[str, list[str]] = {}
        for n, line in enumerate(lines):
            if line["item_id"] not in returned:
                errors[f"lines.{n}.item_id"] = [f'Invalid pk "{line["item_id"]}" - not an item of this return.']
            elif line["quantity"] > returned[line["item_id"]]:
                errors[f"lines.{n}.quantity"] = [f"This return holds {returned[line['item_id']]} unit(s) of it."]
            else:
                picked.append({"item_id": line["item_id"], "quantity": line["quantity"],
                               "restock": restock if line.get("restock") is None else line["restock"]})
        if errors:
            raise ValidationFailed(errors=errors)
    else:
        picked = [{"item_id": i, "quantity": q, "restock": restock} for i, q in returned.items()]
    result = await refunds.refund_order(order_id, lines=picked, restock=restock, reason=reason or "Return",
                                        actor_id=actor_id, restocking_fee=restocking_fee, return_id=return_id)
    async with transaction():
        await _lock_return(return_id)
        await _settle_refunded(return_id)
    return {**await return_payload(return_id), "refund": result}


async def _settle_refunded(return_id: int) -> bool:
    """Mark the (locked) return refunded once its refund succeeded (also
    repairs a return whose status update was lost after its refund)."""
    row = await fetch_one("SELECT id, amount, restocking_fee FROM refund WHERE return_id = %s AND status = 'succeeded'",
                          [return_id])
    if row is None:
        return False
    moved = await fetch_one(
        "UPDATE order_return SET status = 'refunded', refund_id = %s, refund_amount = %s, restocking_fee = %s, "
        "refunded_at = %s, updated_at = %s WHERE id = %s AND status <> 'refunded' RETURNING id",
        [row[0], money(row[1]), money(row[2]), utcnow(), utcnow(), return_id])
    if moved:
        await enqueue("tasks.fulfilment.return_updated", return_id, "refunded")
    return True
