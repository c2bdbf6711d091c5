"""Shipments: staff send some or all units of a paid order's lines together,
with a carrier and a tracking number; each is pending (packed), shipped, then
delivered. The order's status follows from its shipments through the one
transition table (models/orders/tables.py TRANSITIONS): some units shipped →
PARTIALLY_SHIPPED, every unit shipped → SHIPPED, every unit delivered →
DELIVERED. Each step is a tracking event of the shipment and, once it ships
and when it is delivered, an email to the customer (``tasks.fulfilment``,
through the outbox).

Staff correct a shipment until it is delivered: its carrier, tracking number
(the tracking URL rebuilt) and note (``update_shipment``), or cancel it
(``cancel_shipment``: a lost parcel, a voided label). A cancelled shipment
keeps its row and lines as history, its units are not shipped any more (they
may ship again), and the order steps back to what its remaining shipments
say (SHIPMENT_UNDO of models/orders/tables.py: SHIPPED → PARTIALLY_SHIPPED →
PROCESSING; staff can never make those steps by hand). The customer hears of
a correction or a cancellation only when the shipment had been announced to
them (status shipped: they got its tracking number by email); a pending
(packed) shipment changes silently.

Every write locks the order row first: two staff shipping the same remaining
units at once are serialised and the second finds them shipped (409); a
cancellation racing a status update or another cancellation acts once (the
loser gets 400 or 409 and changes nothing).

Triggers (migrations/README.md): the order's writes move its status counts,
rollups and the order lists' cache version (0008, 0013 on ``orders``); the
order's ``updated_at`` is touched at every shipment change so that cached
order pages (which show shipments) are rebuilt.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from models.checkout import refunds
from models.core.db import fetch_all, fetch_one, transaction, utcnow
from models.core.errors import AppError, Conflict, NotFound, ValidationFailed
from models.core.jobs import enqueue
from models.fulfilment.carriers import CARRIERS, tracking_url
from models.orders import actions as orders
from models.orders.queries import SHIPMENT_JSON
from models.orders.tables import SHIPMENT_UNDO, TRANSITIONS

STATUSES = ("pending", "shipped", "delivered", "cancelled")
# Forward steps of POST /api/shipments/{id}/status/; cancelling is its own action.
TRANSITIONS_OF_SHIPMENT: dict[str, tuple[str, ...]] = {
    "pending": ("shipped", "delivered"),
    "shipped": ("delivered",),
    "delivered": (),
    "cancelled": (),
}
# What staff may still correct or cancel (a delivered shipment's items come back through a return).
CORRECTABLE = ("pending", "shipped")
# The tracking event each shipment status records (an order status, models/orders/tables.py).
EVENT_STATUS = {"pending": "PROCESSING", "shipped": "SHIPPED", "delivered": "DELIVERED"}
# An order ships once paid (a partly refunded order still ships what is left).
SHIPPABLE_PAYMENT_STATUSES = ("PAID", "PARTIALLY_REFUNDED")
SHIPPABLE_STATUSES = ("PENDING", "PROCESSING", "PARTIALLY_SHIPPED", "SHIPPED")


class NotShippable(AppError):
    status = 400


class NotCorrectable(AppError):
    """A delivered shipment is history: its items come back through a return."""

    status = 400


async def _lock_order(order_id: int) -> tuple:
    row = await fetch_one("SELECT status, payment_status FROM orders WHERE id = %s FOR UPDATE", [order_id])
    if row is None:
        raise NotFound("Order not found")
    return row


# Units of an order item refunded outside any return (``i``: the item): not
# shipped any more when they had not shipped yet (a customer who cancelled one
# chair of four before it left). Refunds of returns are of delivered units.
_REFUNDED_UNITS = """(SELECT coalesce(sum((l ->> 'quantity')::int), 0) FROM refund f, jsonb_array_elements(f.lines) l
    WHERE f.order_id = i.order_id AND f.status <> 'failed' AND f.return_id IS NULL AND (l ->> 'item_id')::int = i.id)"""


async def _unshipped(order_id: int) -> dict[int, tuple[int, int, str]]:
    """Per order item: (units to ship in all: its quantity less units refunded
    before they shipped, units in shipments so far, product name)."""
    rows = await fetch_all(
        "SELECT i.id, i.quantity, coalesce((SELECT sum(sl.quantity) FROM shipment_line sl JOIN shipment s "
        f"ON s.id = sl.shipment_id WHERE sl.order_item_id = i.id AND s.status <> 'cancelled'), 0), "
        f"i.product_name, {_REFUNDED_UNITS} "
        "FROM order_item i WHERE i.order_id = %s ORDER BY i.id", [order_id])
    return {r[0]: (max(r[1] - int(r[4]), int(r[2])), int(r[2]), r[3]) for r in rows}


async def create_shipment(order_id: int, *, lines: list[dict[str, int]] | None, carrier: str,
                          tracking_number: str = "", given_url: str | None = None, note: str = "",
                          status: str = "shipped", actor_id: int | None = None) -> dict[str, Any]:
    """A shipment of ``lines`` (``{"item_id", "quantity"}``; default: every
    unit not in a shipment yet) of a paid order, pending or already shipped.

    Raises NotFound, NotShippable (400: not paid, cancelled, refunded...),
    ValidationFailed (400: unknown items, more than a line holds, nothing
    left to ship, an unknown carrier), Conflict (409: those units are in
    another shipment already, e.g. a colleague shipped them a moment ago).
    """
    if carrier not in CARRIERS:
        raise ValidationFailed(errors={"carrier": [f'"{carrier}" is not a valid choice.']})
    if status not in ("pending", "shipped"):
        raise ValidationFailed(errors={"status": ["A new shipment is pending or shipped."]})
    async with transaction():
        order_status, payment_status = await _lock_order(order_id)
        if payment_status not in SHIPPABLE_PAYMENT_STATUSES or order_status not in SHIPPABLE_STATUSES:
            text = (f"An order ships once paid and while it is not cancelled, returned or refunded "
                    f"(this one is {order_status}, payment {payment_status}).")
            raise NotShippable(text, {"order": [text]})
        items = await _unshipped(order_id)
        picked = _pick(items, lines)
        now = utcnow()
        number = tracking_number.strip()
        row = await fetch_one(
            "INSERT INTO shipment (order_id, status, carrier, tracking_number, tracking_url, note, created_by, "
            "created_at, updated_at, shipped_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            [order_id, status, carrier, number, tracking_url(carrier, number, given_url), note, actor_id, now, now,
             now if status == "shipped" else None])
        shipment_id = row[0]
        await fetch_all(
            "INSERT INTO shipment_line (shipment_id, order_item_id, quantity) "
            "SELECT %s, * FROM unnest(%s::int[], %s::int[]) RETURNING order_item_id",
            [shipment_id, list(picked), list(picked.values())])
        await _record(order_id, shipment_id, status, carrier, number)
    return await shipment_payload(shipment_id)


def _pick(items: dict[int, tuple[int, int, str]], lines: list[dict[str, int]] | None) -> dict[int, int]:
    """The units to ship per item, checked against what is left of each line."""
    if not lines:
        picked = {i: q - shipped for i, (q, shipped, _n) in items.items() if q > shipped}
        if not picked:
            raise Conflict("Every unit of this order is in a shipment already.",
                           {"lines": ["Nothing is left to ship."]})
        return picked
    wanted: dict[int, int] = {}
    for line in lines:
        wanted[line["item_id"]] = wanted.get(line["item_id"], 0) + line["quantity"]
    errors: dict[str, list[str]] = {}
    conflict: dict[str, list[str]] = {}
    for n, (item_id, quantity) in enumerate(wanted.items()):
        item = items.get(item_id)
        if item is None:
            errors[f"lines.{n}.item_id"] = [f'Invalid pk "{item_id}" - not an item of this order.']
        elif quantity > item[0]:
            errors[f"lines.{n}.quantity"] = [f"This line has {item[0]} unit(s) to ship (less any refunded "
                                             "before shipping)."]
        elif quantity > item[0] - item[1]:
            conflict[f"lines.{n}.quantity"] = [f"Only {item[0] - item[1]} unit(s) of {item[2]} are left to ship "
                                               f"({item[1]} in other shipments)."]
    if errors:
        raise ValidationFailed(errors=errors)
    if conflict:
        raise Conflict("Some of these units are in another shipment already.", conflict)
    return wanted


async def _record(order_id: int, shipment_id: int, status: str, carrier: str, number: str, *,
                  location: str = "", description: str = "") -> None:
    """The shipment's tracking event, the order's status that follows, its
    ``updated_at`` (order pages show shipments), the customer's email."""
    name = CARRIERS.get(carrier, (carrier, None))[0]
    text = description or {
        "pending": f"Shipment {shipment_id} packed",
        "shipped": f"Shipment {shipment_id} shipped with {name}" + (f", tracking number {number}" if number else ""),
        "delivered": f"Shipment {shipment_id} delivered",
    }[status]
    await fetch_one(
        "INSERT INTO order_tracking (order_id, status, location, description, timestamp, shipment_id) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        [order_id, EVENT_STATUS[status], location, text, utcnow(), shipment_id])
    await fetch_one("UPDATE orders SET updated_at = %s WHERE id = %s RETURNING id", [utcnow(), order_id])
    await follow_shipments(order_id, shipment_id)
    if status in ("shipped", "delivered"):
        await enqueue("tasks.fulfilment.shipment_updated", shipment_id, status)


def status_from_units(total: int, shipped: int, delivered: int) -> str | None:
    """The order status its shipments say (None: nothing shipped yet).
    ``total``: the units to ship (less those refunded before they shipped)."""
    if total and delivered >= total:
        return "DELIVERED"
    if total and shipped >= total:
        return "SHIPPED"
    if shipped:
        return "PARTIALLY_SHIPPED"
    return None


async def _shipments_say(order_id: int) -> tuple[str, str | None]:
    """The (locked) order's status and the status its shipments say."""
    current, total, shipped, delivered = await fetch_one(
        f"SELECT o.status, coalesce(sum(greatest(i.quantity - {_REFUNDED_UNITS}, sh.shipped)), 0), "
        "coalesce(sum(sh.shipped), 0), coalesce(sum(sh.delivered), 0) "
        "FROM orders o LEFT JOIN order_item i ON i.order_id = o.id LEFT JOIN LATERAL ("
        " SELECT coalesce(sum(sl.quantity) FILTER (WHERE s.status IN ('shipped', 'delivered')), 0) AS shipped, "
        "  coalesce(sum(sl.quantity) FILTER (WHERE s.status = 'delivered'), 0) AS delivered "
        " FROM shipment_line sl JOIN shipment s ON s.id = sl.shipment_id WHERE sl.order_item_id = i.id) sh ON TRUE "
        "WHERE o.id = %s GROUP BY o.id, o.status", [order_id])
    return current, status_from_units(int(total), int(shipped), int(delivered))


def _move(current: str, target: str | None, undo: bool) -> str | None:
    """The status to move to (None: stay). Forward through TRANSITIONS; after
    a cancelled shipment (``undo``) also back through SHIPMENT_UNDO, to
    PROCESSING when nothing is shipped any more."""
    if undo and target is None:
        target = "PROCESSING"
    if target is None or target == current:
        return None
    if target in TRANSITIONS.get(current, ()) or (undo and target in SHIPMENT_UNDO.get(current, ())):
        return target
    return None


async def follow_shipments(order_id: int, shipment_id: int | None = None, *, undo: bool = False) -> str | None:
    """Move the (locked) order to the status its shipments say, where the
    transition table allows it (an order staff already marked further on, or
    refunded, stays); ``undo``: a shipment was cancelled, the order may step
    back. The customer hears of it by the shipment's email."""
    current, target = await _shipments_say(order_id)
    target = _move(current, target, undo)
    if target is None:
        return None
    await orders.move_status(order_id, target, shipment_id=shipment_id, notify=False, undo_shipment=undo)
    return target


async def set_shipment_status(shipment_id: int, status: str, *, location: str = "",
                              description: str = "") -> dict[str, Any]:
    """Mark a shipment shipped or delivered (forward only: InvalidTransition,
    400, otherwise; the same status again is a no-op). The order follows."""
    if status not in STATUSES:
        raise ValidationFailed(errors={"status": [f'"{status}" is not a valid choice.']})
    row = await fetch_one("SELECT order_id FROM shipment WHERE id = %s", [shipment_id])
    if row is None:
        raise NotFound("Shipment not found")
    order_id = row[0]
    async with transaction():
        await _lock_order(order_id)
        current, carrier, number = await fetch_one(
            "SELECT status, carrier, tracking_number FROM shipment WHERE id = %s FOR UPDATE", [shipment_id])
        if status != current:
            if status not in TRANSITIONS_OF_SHIPMENT[current]:
                allowed = ", ".join(TRANSITIONS_OF_SHIPMENT[current]) or "none"
                raise orders.InvalidTransition(
                    f"Cannot change shipment status from {current} to {status}.",
                    {"status": [f"Cannot change from {current} to {status}. Allowed: {allowed}."]})
            now = utcnow()
            await fetch_one(
                "UPDATE shipment SET status = %s, updated_at = %s, shipped_at = coalesce(shipped_at, %s), "
                "delivered_at = CASE WHEN %s = 'delivered' THEN %s ELSE delivered_at END WHERE id = %s RETURNING id",
                [status, now, now, status, now, shipment_id])
            await _record(order_id, shipment_id, status, carrier, number, location=location, description=description)
    return await shipment_payload(shipment_id)


async def _lock_shipment(shipment_id: int) -> tuple:
    """Lock the shipment's order, then the shipment (the order first, as every
    shipment and refund write): (order id, status, carrier, tracking number,
    tracking url, note)."""
    row = await fetch_one("SELECT order_id FROM shipment WHERE id = %s", [shipment_id])
    if row is None:
        raise NotFound("Shipment not found")
    await _lock_order(row[0])
    return await fetch_one("SELECT order_id, status, carrier, tracking_number, tracking_url, note FROM shipment "
                           "WHERE id = %s FOR UPDATE", [shipment_id])


def _refuse_correction(status: str, what: str) -> None:
    if status == "delivered":
        text = f"A delivered shipment cannot be {what}: its items come back through a return."
        raise NotCorrectable(text, {"status": [text]})
    if status == "cancelled":
        text = f"This shipment was cancelled already: it cannot be {what}."
        raise Conflict(text, {"status": [text]})


async def update_shipment(shipment_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Correct a shipment not delivered yet: ``changes`` among ``carrier``,
    ``tracking_number``, ``tracking_url`` (None: the carrier's page), ``note``.
    A new carrier or number rebuilds the tracking URL from the carrier's page
    unless ``tracking_url`` is given with it (an address staff typed named the
    old number). A tracking event records the correction; the customer is
    emailed the new details when the shipment had shipped (they had the old
    ones). Nothing changed: a no-op.

    Raises NotFound, ValidationFailed (400: an unknown carrier),
    NotCorrectable (400: delivered), Conflict (409: cancelled).
    """
    if "carrier" in changes and changes["carrier"] not in CARRIERS:
        raise ValidationFailed(errors={"carrier": [f'"{changes["carrier"]}" is not a valid choice.']})
    async with transaction():
        order_id, status, carrier, number, url, note = await _lock_shipment(shipment_id)
        _refuse_correction(status, "changed")
        new_carrier = changes.get("carrier") or carrier
        new_number = (changes["tracking_number"] or "").strip() if "tracking_number" in changes else number
        if "tracking_url" in changes:
            new_url = tracking_url(new_carrier, new_number, changes["tracking_url"])
        elif (new_carrier, new_number) != (carrier, number):
            new_url = tracking_url(new_carrier, new_number)
        else:
            new_url = url
        new_note = changes["note"] if changes.get("note") is not None else note
        if (new_carrier, new_number, new_url, new_note) == (carrier, number, url, note):
            return await shipment_payload(shipment_id)
        await fetch_one("UPDATE shipment SET carrier = %s, tracking_number = %s, tracking_url = %s, note = %s, "
                        "updated_at = %s WHERE id = %s RETURNING id",
                        [new_carrier, new_number, new_url, new_note, utcnow(), shipment_id])
        tracking_changed = (new_carrier, new_number, new_url) != (carrier, number, url)
        if tracking_changed:
            name = CARRIERS[new_carrier][0]
            await fetch_one(
                "INSERT INTO order_tracking (order_id, status, location, description, timestamp, shipment_id) "
                "VALUES (%s, %s, '', %s, %s, %s) RETURNING id",
                [order_id, EVENT_STATUS[status], f"Shipment {shipment_id} tracking details corrected: {name}"
                 + (f", tracking number {new_number}" if new_number else ""), utcnow(), shipment_id])
            if status == "shipped":
                await enqueue("tasks.fulfilment.shipment_updated", shipment_id, "corrected")
        await fetch_one("UPDATE orders SET updated_at = %s WHERE id = %s RETURNING id", [utcnow(), order_id])
    return await shipment_payload(shipment_id)


async def cancel_shipment(shipment_id: int, reason: str = "") -> dict[str, Any]:
    """Cancel a shipment not delivered yet: its units are not shipped any
    more (they may ship again), the order steps back to what its other
    shipments say (SHIPPED → PARTIALLY_SHIPPED or PROCESSING), a tracking
    event records it, and the customer is emailed only when the shipment had
    shipped (they were told it was on its way; a packed one was never
    announced). Stock does not move: the order still holds its units.

    Raises NotFound, NotCorrectable (400: delivered), Conflict (409:
    cancelled already, e.g. by a colleague a moment ago).
    """
    async with transaction():
        order_id, status, _carrier, _number, _url, _note = await _lock_shipment(shipment_id)
        _refuse_correction(status, "cancelled")
        now = utcnow()
        await fetch_one("UPDATE shipment SET status = 'cancelled', cancelled_at = %s, cancel_reason = %s, "
                        "updated_at = %s WHERE id = %s RETURNING id", [now, reason, now, shipment_id])
        current, said = await _shipments_say(order_id)
        target = _move(current, said, True)
        await fetch_one(
            "INSERT INTO order_tracking (order_id, status, location, description, timestamp, shipment_id) "
            "VALUES (%s, %s, '', %s, %s, %s) RETURNING id",
            [order_id, target or current, f"Shipment {shipment_id} cancelled" + (f": {reason}" if reason else ""),
             now, shipment_id])
        await fetch_one("UPDATE orders SET updated_at = %s WHERE id = %s RETURNING id", [now, order_id])
        if target is not None:
            await orders.move_status(order_id, target, shipment_id=shipment_id, notify=False, undo_shipment=True,
                                     description=f"Order {target.lower().replace('_', ' ')} again: shipment "
                                                 f"{shipment_id} cancelled")
        if status == "shipped":
            await enqueue("tasks.fulfilment.shipment_updated", shipment_id, "cancelled")
    return await shipment_payload(shipment_id)


async def refund_outside_return(order_id: int, *, amount: Decimal | None = None,
                                lines: list[dict[str, Any]] | None = None, restock: bool = False, reason: str = "",
                                actor_id: int | None = None) -> dict[str, Any]:
    """POST /api/orders/{id}/refund/: the one refund action
    (models/checkout/refunds.py ``refund_order``), where a restock makes
    sense. ``lines``: ``{"item_id", "quantity", "restock"?}`` — a line's own
    ``restock`` (else ``restock``). A restocked line says its units never
    left: they must be units not in a shipment (cancelled ones aside) and not
    refunded yet; they go back to stock and are no longer to ship. Units that
    shipped are with the customer and come back to stock through a return
    (its refund restocks them). Without ``lines``, ``restock`` (every unit)
    is refused once any unit is in a shipment: name the lines.

    Raises ValidationFailed (400: ``lines.N.restock`` or ``restock``),
    nothing changed; then what ``refunds.refund_order`` raises. Once refunded,
    the order follows its shipments (refunded units not shipped yet are no
    longer to ship: a PARTIALLY_SHIPPED order may now be SHIPPED).

    The check runs in the refund's own transaction, under the order's lock
    (``refund_order``'s ``check``): a shipment, which locks the order too,
    cannot take a unit restocked here between the two.
    """

    async def check() -> None:
        if lines and any(restock if l.get("restock") is None else l["restock"] for l in lines):
            items = await _unshipped(order_id)
            wanted: dict[int, int] = {}
            for line in lines:
                if restock if line.get("restock") is None else line["restock"]:
                    wanted[line["item_id"]] = wanted.get(line["item_id"], 0) + line["quantity"]
            errors: dict[str, list[str]] = {}
            for n, line in enumerate(lines):
                item = items.get(line["item_id"])
                if item is None or line["item_id"] not in wanted:
                    continue  # not the order's: refund_order names it
                to_ship, in_shipments, name = item
                left = to_ship - in_shipments  # on the shelf: neither shipped nor refunded yet
                if wanted[line["item_id"]] > left:
                    errors[f"lines.{n}.restock"] = [
                        f"Only {left} unit(s) of {name} have not shipped (and are not refunded yet): units that "
                        "shipped go back to stock through a return (POST /api/orders/{id}/returns/)."]
                    del wanted[line["item_id"]]
            if errors:
                raise ValidationFailed(errors=errors)
        elif restock and not lines:
            shipped = await fetch_one("SELECT coalesce(sum(sl.quantity), 0) FROM shipment_line sl JOIN shipment s "
                                      "ON s.id = sl.shipment_id WHERE s.order_id = %s AND s.status <> 'cancelled'",
                                      [order_id])
            if shipped[0]:
                raise ValidationFailed(errors={"restock": [
                    f"{shipped[0]} unit(s) of this order are in shipments: name the lines to restock (lines[].restock); "
                    "units that shipped go back to stock through a return."]})

    result = await refunds.refund_order(order_id, amount=amount, lines=lines, restock=restock, reason=reason,
                                        actor_id=actor_id, check=check)
    if lines:
        # Units refunded before they shipped are not to ship any more: the
        # rest may all be shipped (or delivered) now. Recomputed from the
        # rows, so running it again (or at the next shipment step) is harmless.
        async with transaction():
            await _lock_order(order_id)
            moved = await follow_shipments(order_id)
        if moved:
            result = {**result, "status": moved}
    return result


async def shipment_payload(shipment_id: int, user_id: int | None = None) -> dict[str, Any]:
    """One shipment as the API shows it (``user_id``: only that user's order's; NotFound otherwise)."""
    sql = (f"SELECT {SHIPMENT_JSON}::jsonb || jsonb_build_object('order_number', o.order_number, "
           "'customer_email', o.customer_email, 'order_status', o.status) "
           "FROM shipment s JOIN orders o ON o.id = s.order_id WHERE s.id = %s")
    params: list[Any] = [shipment_id]
    if user_id is not None:
        sql += " AND o.user_id = %s"
        params.append(user_id)
    row = await fetch_one(sql, params)
    if row is None:
        raise NotFound("Shipment not found")
    return row[0]


async def order_shipments(order_id: int, user_id: int | None = None) -> list[dict[str, Any]]:
    """An order's shipments, oldest first (a customer's own order only: NotFound otherwise)."""
    from models.orders.queries import ensure_visible

    await ensure_visible(order_id, user_id)
    rows = await fetch_all(f"SELECT {SHIPMENT_JSON}::jsonb || jsonb_build_object('order_number', o.order_number, "
                           "'customer_email', o.customer_email, 'order_status', o.status) "
                           "FROM shipment s JOIN orders o ON o.id = s.order_id WHERE s.order_id = %s ORDER BY s.id",
                           [order_id])
    return [r[0] for r in rows]
