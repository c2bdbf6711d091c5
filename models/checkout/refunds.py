"""Refunds, always through the order's gateway: one action for every provider
(test, Stripe, PayPal, Clover; a manual payment is refunded by staff and
recorded). Full or partial — an ``amount``, or ``lines`` (order item ids with
quantities) with optional ``restock`` — never more than was captured less
what was refunded.

Each attempt is a ``refund`` row: reserved as ``pending`` with the order
locked (so two refunds at once never exceed the captured amount), then the
provider is asked outside any transaction, then the row becomes
``succeeded`` (with the provider's reference: ``orders.refunded_amount``,
payment and order statuses follow) or ``failed`` (with the provider's
reason; nothing else changed, the refund can be asked again). A fully
refunded order leaves the fulfilment flow (status REFUNDED). A return
(models/fulfilment/returns.py) refunds through this same action: per-line
restock flags, a restocking fee kept, and ``return_id`` (refunded once).

Triggers (migrations/README.md): refund rows move ``refund_daily`` (0022
refund_daily_change): the dashboard's revenue goes down on the refund's day.
"""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Awaitable, Callable

import orjson

from models.core.db import db, fetch_all, fetch_one, money, money_str, transaction, utcnow
from models.core.errors import AppError, Conflict, NotFound, ValidationFailed
from models.core.jobs import enqueue
from models.orders import stock
from models.orders.tables import TRANSITIONS
from models.payments import registry
from models.payments.interface import GatewayUnavailable

log = logging.getLogger("avantlush.payments")



class RefundFailed(AppError):
    """The provider did not refund (unreachable, refused): 502, recorded, retryable."""

    status = 502
    message = "The payment provider did not refund; nothing was refunded. Try again."


class NotRefundable(AppError):
    status = 400


async def _captured_payment(order_id: int, payment_status: str) -> tuple:
    row = await fetch_one("SELECT id, provider, transaction_id, capture_reference, amount, currency FROM payment "
                          "WHERE order_id = %s AND status IN ('PAID', 'PARTIALLY_REFUNDED') ORDER BY id DESC LIMIT 1",
                          [order_id])
    if row is None:
        raise NotRefundable(f"Cannot refund an order whose payment is {payment_status}.",
                            {"payment_status": [f"Only paid orders can be refunded (this one is {payment_status})."]})
    return row


async def _refunded_lines(order_id: int) -> tuple[dict[int, int], dict[int, int]]:
    """Per order item: quantity refunded (succeeded or pending) and quantity restocked."""
    refunded: dict[int, int] = {}
    restocked: dict[int, int] = {}
    for (lines,) in await fetch_all("SELECT lines FROM refund WHERE order_id = %s AND status <> 'failed'", [order_id]):
        for line in lines or []:
            refunded[line["item_id"]] = refunded.get(line["item_id"], 0) + line["quantity"]
            if line.get("restocked"):
                restocked[line["item_id"]] = restocked.get(line["item_id"], 0) + line["quantity"]
    return refunded, restocked


async def _pick_lines(order_id: int, lines: list[dict[str, int]], restock: bool,
                      share: Decimal) -> tuple[list[dict], Decimal]:
    """Validate ``lines`` against the order's items and what was refunded of
    them; answer the lines to record and what they cost (the order's
    discount shared out)."""
    items = {r[0]: r for r in await fetch_all("SELECT id, quantity, unit_price FROM order_item WHERE order_id = %s",
                                              [order_id])}
    already, _ = await _refunded_lines(order_id)
    errors: dict[str, list[str]] = {}
    picked, total = [], Decimal("0")
    wanted: dict[int, int] = {}
    restocks: dict[int, bool] = {}  # a line's own restock flag, else ``restock``
    for line in lines:
        wanted[line["item_id"]] = wanted.get(line["item_id"], 0) + line["quantity"]
        if line.get("restock") is not None:
            restocks[line["item_id"]] = bool(line["restock"])
    for n, (item_id, quantity) in enumerate(wanted.items()):
        item = items.get(item_id)
        if item is None:
            errors[f"lines.{n}.item_id"] = [f'Invalid pk "{item_id}" - not an item of this order.']
            continue
        left = item[1] - already.get(item_id, 0)
        if quantity > left:
            errors[f"lines.{n}.quantity"] = [f"At most {left} of this item can still be refunded."]
            continue
        picked.append({"item_id": item_id, "quantity": quantity, "restocked": restocks.get(item_id, restock)})
        total += item[2] * quantity
    if errors:
        raise ValidationFailed(errors=errors)
    return picked, money(total * share)


async def refund_order(order_id: int, *, amount: Decimal | None = None, lines: list[dict[str, Any]] | None = None,
                       restock: bool = False, reason: str = "", actor_id: int | None = None,
                       restocking_fee: Decimal | None = None, return_id: int | None = None,
                       check: Callable[[], Awaitable[None]] | None = None) -> dict[str, Any]:
    """Refund ``amount`` (default: the lines' cost less ``restocking_fee``,
    else all that is left) of the order's captured payment through its gateway.

    ``lines``: ``{"item_id", "quantity"}`` with an optional ``"restock"`` of
    the line's own (else ``restock``). ``return_id``: the return this refund
    settles (models/fulfilment/returns.py): a return is refunded once.
    ``check``: a caller's own rule (a layer above: e.g. fulfilment's "restocked
    units never shipped"), run under the order's lock before the refund is
    recorded, so nothing that locks the order (a new shipment) comes between;
    it raises to refuse, nothing written.

    Raises NotFound, NotRefundable (400: not paid), ValidationFailed (400: an
    amount beyond what is left, bad lines, a fee beyond the lines' cost),
    Conflict (409: another refund of the order is in progress and together
    they would exceed it, or the return was refunded already), RefundFailed
    (502: the provider did not refund; the attempt is recorded as failed).
    """
    fee = money(restocking_fee or 0)
    async with transaction():
        order = await fetch_one("SELECT payment_status, subtotal, discount, stock_held FROM orders "
                                "WHERE id = %s FOR UPDATE", [order_id])
        if order is None:
            raise NotFound("Order not found")
        if check is not None:
            await check()
        payment_status, subtotal, discount, _held = order
        payment_id, provider, transaction_id, capture_ref, captured, currency = \
            await _captured_payment(order_id, payment_status)
        done, pending = await fetch_one(
            "SELECT coalesce(sum(amount) FILTER (WHERE status = 'succeeded'), 0), "
            "coalesce(sum(amount) FILTER (WHERE status = 'pending'), 0) FROM refund WHERE payment_id = %s",
            [payment_id])
        left = money(captured - done)
        share = (subtotal - discount) / subtotal if subtotal else Decimal("1")
        if return_id is not None and await fetch_one(
                "SELECT 1 FROM refund WHERE return_id = %s AND status <> 'failed'", [return_id]):
            raise Conflict("This return was refunded already (or its refund is in progress).",
                           {"return": ["A return is refunded once."]})
        picked: list[dict] = []
        if lines:
            picked, lines_amount = await _pick_lines(order_id, lines, restock, share)
            if fee >= lines_amount and fee > 0:
                raise ValidationFailed(errors={"restocking_fee": [
                    f"The restocking fee must be less than the lines' cost ({money_str(lines_amount)})."]})
            amount = lines_amount - fee if amount is None else amount
        elif fee and amount is None:
            raise ValidationFailed(errors={"restocking_fee": ["A restocking fee is taken off refunded lines: "
                                                              "give the lines."]})
        amount = money(left if amount is None else amount)
        if left <= 0:
            raise NotRefundable("Nothing is left to refund on this order.",
                                {"amount": [f"Captured {money_str(captured)}, already refunded {money_str(done)}."]})
        if amount <= 0:
            raise ValidationFailed(errors={"amount": ["Ensure this value is greater than 0."]})
        if amount > left:
            raise ValidationFailed("Refund exceeds what was captured",
                                   {"amount": [f"At most {money_str(left)} can be refunded (captured "
                                               f"{money_str(captured)}, already refunded {money_str(done)})."]})
        if amount > left - pending:
            raise Conflict("Another refund of this order is in progress; try again when it has finished.",
                           {"amount": [f"{money_str(pending)} is being refunded right now."]})
        if restock and not lines:
            picked = await _all_lines_left(order_id)
        row = await fetch_one(
            "INSERT INTO refund (order_id, payment_id, amount, status, provider, reason, lines, restock, created_by, "
            "restocking_fee, return_id) "
            "VALUES (%s, %s, %s, 'pending', %s, %s, %s::jsonb, %s, %s, %s, %s) RETURNING id",
            [order_id, payment_id, amount, provider, reason[:1000], orjson.dumps(picked).decode(),
             restock or any(p["restocked"] for p in picked), actor_id, fee, return_id])
        refund_id = row[0]
    reference = await _ask_provider(refund_id, provider, capture_ref or transaction_id, amount, currency)
    async with transaction():
        await fetch_one("SELECT id FROM orders WHERE id = %s FOR UPDATE", [order_id])
        await db.aio_execute_sql("UPDATE refund SET status = 'succeeded', provider_reference = %s, updated_at = %s "
                                 "WHERE id = %s", [reference, utcnow(), refund_id])
        state = await _settle(order_id, payment_id)
        restocked = await _restock(order_id, [p for p in picked if p["restocked"]])
    return {"id": order_id, "payment_status": state["payment_status"], "restocked": restocked,
            "refund_id": refund_id, "amount": money_str(amount), "refunded_amount": state["refunded_amount"],
            "status": state["status"], "provider_reference": reference}


async def _all_lines_left(order_id: int) -> list[dict]:
    """Every item's quantity not restocked yet (a full restock)."""
    _refunded, restocked = await _refunded_lines(order_id)
    rows = await fetch_all("SELECT id, quantity FROM order_item WHERE order_id = %s ORDER BY id", [order_id])
    return [{"item_id": i, "quantity": q - restocked.get(i, 0), "restocked": True}
            for i, q in rows if q - restocked.get(i, 0) > 0]


async def _ask_provider(refund_id: int, provider: str, reference: str | None, amount: Decimal,
                        currency: str) -> str | None:
    """The provider's refund (the attempt's id is its idempotency key); a
    failure is recorded on the attempt and raised as RefundFailed."""
    if provider == "manual":
        return None  # paid outside any gateway (cash, transfer): staff give it back
    try:
        if not reference:
            raise GatewayUnavailable(f"{provider}: the payment has no provider reference to refund")
        result = await registry.provider(provider).refund(reference, amount, f"refund-{refund_id}", currency)
    except (GatewayUnavailable, AppError) as exc:
        why = getattr(exc, "reason", None) or exc.message
        log.warning("refund %s of %s through %s failed: %s", refund_id, amount, provider, why)
        await db.aio_execute_sql("UPDATE refund SET status = 'failed', failure_message = %s, updated_at = %s "
                                 "WHERE id = %s", [why[:2000], utcnow(), refund_id])
        raise RefundFailed(errors={"refund": [f"{provider} did not refund: {why}"[:500]]}, refund_id=refund_id) from None
    except BaseException:
        await db.aio_execute_sql("UPDATE refund SET status = 'failed', failure_message = 'error', updated_at = %s "
                                 "WHERE id = %s", [utcnow(), refund_id])
        raise
    return result.reference


async def _settle(order_id: int, payment_id: int) -> dict[str, Any]:
    """After a succeeded refund (order locked): ``orders.refunded_amount``,
    payment and order payment status, and REFUNDED for a fully refunded order."""
    refunded = (await fetch_one("SELECT coalesce(sum(amount), 0) FROM refund WHERE order_id = %s "
                                "AND status = 'succeeded'", [order_id]))[0]
    pay_refunded, captured = await fetch_one(
        "SELECT coalesce((SELECT sum(amount) FROM refund WHERE payment_id = p.id AND status = 'succeeded'), 0), "
        "p.amount FROM payment p WHERE p.id = %s", [payment_id])
    new = "REFUNDED" if pay_refunded >= captured else "PARTIALLY_REFUNDED"
    await db.aio_execute_sql("UPDATE payment SET status = %s, updated_at = %s WHERE id = %s", [new, utcnow(), payment_id])
    status = (await fetch_one("SELECT status FROM orders WHERE id = %s", [order_id]))[0]
    # A fully refunded order leaves the fulfilment flow, where the order's transitions allow it (not from CANCELLED).
    to = "REFUNDED" if new == "REFUNDED" and "REFUNDED" in TRANSITIONS.get(status, ()) else status
    await db.aio_execute_sql("UPDATE orders SET refunded_amount = %s, payment_status = %s, status = %s, "
                             "updated_at = %s WHERE id = %s", [money(refunded), new, to, utcnow(), order_id])
    if to != status:
        await db.aio_execute_sql(
            "INSERT INTO order_tracking (order_id, status, location, description, timestamp) "
            "VALUES (%s, 'REFUNDED', '', 'Order refunded', %s)", [order_id, utcnow()])
        await enqueue("tasks.orders.order_status_changed", order_id, "REFUNDED")
    return {"payment_status": new, "refunded_amount": money_str(refunded), "status": to}


async def _restock(order_id: int, picked: list[dict]) -> bool:
    """Give the refunded lines' stock back while the order still holds it
    (orders.stock counts what each line gave back, so a later cancellation
    does not give it twice)."""
    return await stock.restock_items(order_id, [(l["item_id"], l["quantity"]) for l in picked], "refund")


async def apply_refunded_total(order_id: int, payment_id: int, total: Decimal, provider: str, reference: str) -> bool:
    """A refund made at the provider (reported by its webhook): record what
    exceeds our own succeeded refunds as one refund row, and settle. Inside
    the caller's transaction. False when nothing new was refunded."""
    await fetch_one("SELECT id FROM orders WHERE id = %s FOR UPDATE", [order_id])
    ours = (await fetch_one("SELECT coalesce(sum(amount), 0) FROM refund WHERE payment_id = %s "
                            "AND status IN ('succeeded', 'pending')", [payment_id]))[0]
    extra = money(total - ours)
    if extra <= 0:
        return False
    await db.aio_execute_sql(
        "INSERT INTO refund (order_id, payment_id, amount, status, provider, provider_reference, reason) "
        "VALUES (%s, %s, %s, 'succeeded', %s, %s, 'Refunded at the provider')",
        [order_id, payment_id, extra, provider, reference[:255]])
    await _settle(order_id, payment_id)
    return True
