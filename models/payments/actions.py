"""Paying for an order: card gateways (authorize → one transaction creates
the PAID order, takes stock, captures → commit) and hosted gateways (the
order is created PENDING holding its stock; only a signed webhook marks it
paid). Webhook events move payments and orders through legal transitions
only, each event id once.

A decline raises PaymentFailed before anything is written. If the order
cannot be created after an authorization (stock gone meanwhile), the
authorization is voided: the shopper is never charged for an order that does
not exist. The capture is the last step inside the order's transaction, so a
failed capture leaves no order; a commit failing after it is refunded.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from models.core.db import db, fetch_one, transaction, utcnow
from models.core.jobs import enqueue
from models.orders import actions as orders
from models.orders.actions import OrderDraft, PaymentDraft
from models.orders.tables import PAYMENT_TRANSITIONS
from models.payments.gateway import Charge, PaymentFailed

log = logging.getLogger("avantlush.payments")

OnPlaced = Callable[[int], Awaitable[None]] | None


async def pay_and_place(draft: OrderDraft, gateway: Any, charge: Charge, on_placed: OnPlaced = None) -> dict[str, Any]:
    """Charge ``charge`` through ``gateway`` and create the order of ``draft``.

    Card gateways: the answer is the paid order. Hosted gateways: a PENDING
    order and the page to send the shopper to. ``on_placed(order_id)`` runs in
    the order's transaction (redeem the promo code, empty the cart).
    Raises PaymentFailed (nothing changed), OutOfStock (authorization voided),
    GatewayUnavailable.
    """
    if getattr(gateway, "hosted", False):
        return await _start_hosted(draft, gateway, charge, on_placed)
    auth = await gateway.authorize(charge)
    if not auth.ok:
        raise PaymentFailed(auth.message or "Your card was declined")
    draft.status, draft.payment_status, draft.payment_method = "PROCESSING", "PAID", gateway.name
    committed = False
    try:
        async with transaction():
            order_id, number = await orders.create_order(
                draft, PaymentDraft(provider=gateway.name, method=auth.method, status="PAID",
                                    transaction_id=auth.transaction_id))
            if on_placed is not None:
                await on_placed(order_id)
            if charge.save_card and auth.reusable_reference and draft.user_id:
                await db.aio_execute_sql(
                    "INSERT INTO saved_payment_method (user_id, provider, reference, brand, last4) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [draft.user_id, gateway.name, auth.reusable_reference, auth.brand, auth.last4])
            # Last, so that a failed capture rolls the order back.
            await gateway.capture(auth.transaction_id, draft.totals.total, charge.idempotency_key + "-capture")
        committed = True
    finally:
        if not committed:
            await _undo(gateway, auth.transaction_id, draft, charge)
    return {"success": True, "order_id": order_id, "order_number": number, "transaction_id": auth.transaction_id,
            "amount": draft.totals.total, "status": "PAID"}


async def _undo(gateway: Any, transaction_id: str, draft: OrderDraft, charge: Charge) -> None:
    """No order after an authorization: release it (or refund a capture)."""
    try:
        await gateway.void(transaction_id, charge.idempotency_key + "-void")
    except Exception:  # noqa: BLE001
        try:
            await gateway.refund(transaction_id, draft.totals.total, charge.idempotency_key + "-refund")
        except Exception:  # noqa: BLE001
            log.exception("could not release payment %s of a failed order: refund it by hand", transaction_id)


async def _start_hosted(draft: OrderDraft, gateway: Any, charge: Charge, on_placed: OnPlaced) -> dict[str, Any]:
    draft.status, draft.payment_status, draft.payment_method = "PENDING", "PENDING", gateway.name
    async with transaction():
        order_id, number = await orders.create_order(
            draft, PaymentDraft(provider=gateway.name, method=gateway.label, status="PENDING"))
        if on_placed is not None:
            await on_placed(order_id)
    items = [{"name": l.name, "quantity": l.quantity, "unit_price": l.unit_price} for l in draft.lines]
    try:
        session = await gateway.start_hosted(charge, number, items)
    except BaseException:
        await _cancel_unpaid(order_id)
        raise
    await db.aio_execute_sql("UPDATE payment SET transaction_id = %s, updated_at = %s WHERE order_id = %s "
                             "AND provider = %s AND transaction_id IS NULL",
                             [session.transaction_id, utcnow(), order_id, gateway.name])
    return {"success": True, "order_id": order_id, "order_number": number, "transaction_id": session.transaction_id,
            "amount": draft.totals.total, "status": "PENDING", "redirect_url": session.redirect_url}


async def _cancel_unpaid(order_id: int) -> None:
    async with transaction():
        row = await fetch_one("SELECT status FROM orders WHERE id = %s FOR UPDATE", [order_id])
        if row and row[0] == "PENDING":
            await db.aio_execute_sql("UPDATE orders SET status = 'CANCELLED', payment_status = 'FAILED', "
                                     "updated_at = %s WHERE id = %s", [utcnow(), order_id])
            await db.aio_execute_sql("UPDATE payment SET status = 'FAILED', updated_at = %s WHERE order_id = %s "
                                     "AND status = 'PENDING'", [utcnow(), order_id])
            await orders.release_stock(order_id, "payment_failed")


# --- webhooks ---------------------------------------------------------------------

async def record_event(provider: str, event_id: str, event_type: str, payload: Any) -> bool:
    """Record a webhook event inside the caller's transaction; False if it was
    already processed (a replay changes nothing)."""
    import orjson

    row = await fetch_one(
        "INSERT INTO webhook_event (provider, event_id, event_type, payload) VALUES (%s, %s, %s, %s::jsonb) "
        "ON CONFLICT (provider, event_id) DO NOTHING RETURNING id",
        [provider, event_id, event_type[:100], orjson.dumps(payload).decode()])
    return row is not None


async def _lock_payment(provider: str, transaction_id: str) -> tuple | None:
    return await fetch_one("SELECT id, order_id, status FROM payment WHERE provider = %s AND transaction_id = %s "
                           "FOR UPDATE", [provider, transaction_id])


def _legal(current: str, new: str) -> bool:
    return new in PAYMENT_TRANSITIONS.get(current, ())


async def apply_payment_event(provider: str, event_id: str, event_type: str, payload: Any,
                              transaction_id: str | None, outcome: str | None) -> str:
    """Process one verified webhook event: ``outcome`` is PAID, FAILED,
    REFUNDED or None (not ours to act on). Returns what happened
    (``duplicate``, ``ignored``, ``unknown_payment``, ``illegal``, ``applied``)."""
    async with transaction():
        if not await record_event(provider, event_id, event_type, payload):
            return "duplicate"
        if outcome is None or not transaction_id:
            return "ignored"
        payment = await _lock_payment(provider, transaction_id)
        if payment is None:
            log.warning("%s webhook %s for unknown payment %s", provider, event_id, transaction_id)
            return "unknown_payment"
        payment_id, order_id, current = payment
        if current == outcome:
            return "ignored"
        if not _legal(current, outcome):
            log.warning("%s webhook %s: payment %s cannot go from %s to %s", provider, event_id, payment_id,
                        current, outcome)
            return "illegal"
        order = await fetch_one("SELECT status, payment_status FROM orders WHERE id = %s FOR UPDATE", [order_id])
        await db.aio_execute_sql("UPDATE payment SET status = %s, updated_at = %s WHERE id = %s",
                                 [outcome, utcnow(), payment_id])
        status, payment_status = order
        changes: dict[str, str] = {}
        if payment_status != outcome and _legal(payment_status, outcome):
            changes["payment_status"] = outcome
        if outcome == "PAID" and status == "PENDING":
            changes["status"] = "PROCESSING"
        if outcome == "FAILED" and status == "PENDING":
            changes["status"] = "CANCELLED"
        if changes:
            cols = ", ".join(f"{k} = %s" for k in changes)
            await db.aio_execute_sql(f"UPDATE orders SET {cols}, updated_at = %s WHERE id = %s",
                                     [*changes.values(), utcnow(), order_id])
        if changes.get("status") == "CANCELLED":
            await orders.release_stock(order_id, "payment_failed")
        if "status" in changes:
            await db.aio_execute_sql(
                "INSERT INTO order_tracking (order_id, status, location, description, timestamp) "
                "VALUES (%s, %s, '', %s, %s)",
                [order_id, changes["status"], f"Payment {outcome.lower()}", utcnow()])
            await enqueue("tasks.orders.order_status_changed", order_id, changes["status"])
        return "applied"


# --- refunds ------------------------------------------------------------------------

async def refund_order(order_id: int, restock: bool) -> dict[str, Any]:
    """Refund an order's paid payments through their gateways and mark them
    and the order REFUNDED; with ``restock`` its stock goes back (exactly once,
    whatever else already gave it back). Raises NotFound, InvalidTransition
    when the order is not paid."""
    from models.core.errors import NotFound
    from models.orders.actions import InvalidTransition
    from models.payments.gateway import gateway_for

    async with transaction():
        order = await fetch_one("SELECT payment_status FROM orders WHERE id = %s FOR UPDATE", [order_id])
        if order is None:
            raise NotFound("Order not found")
        if order[0] != "PAID":
            raise InvalidTransition(f"Cannot refund an order whose payment is {order[0]}.",
                                    {"payment_status": [f"Cannot change from {order[0]} to REFUNDED."]})
        from models.core.db import fetch_all

        paid = await fetch_all("SELECT id, provider, transaction_id, amount FROM payment WHERE order_id = %s "
                               "AND status = 'PAID' ORDER BY id FOR UPDATE", [order_id])
        for payment_id, provider, transaction_id, amount in paid:
            if provider in ("stripe", "test") and transaction_id:
                gateway = gateway_for("test" if provider == "test" else "stripe")
                await gateway.refund(transaction_id, amount, f"refund-{payment_id}")
            await db.aio_execute_sql("UPDATE payment SET status = 'REFUNDED', updated_at = %s WHERE id = %s",
                                     [utcnow(), payment_id])
        await db.aio_execute_sql("UPDATE orders SET payment_status = 'REFUNDED', updated_at = %s WHERE id = %s",
                                 [utcnow(), order_id])
        if restock:
            await orders.release_stock(order_id, "refund")
    return {"id": order_id, "payment_status": "REFUNDED", "restocked": restock}
