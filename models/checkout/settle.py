"""Provider events settle payments: each verified event id is processed once
(``webhook_event``, with what processing did), payments and orders move
through legal transitions only.

- PAID on a PENDING order: PROCESSING; a hosted checkout's cart, promo use
  and confirmation follow (``payment.finalize_hosted``).
- PAID after the order was cancelled (a failure event first, an expired
  reservation, a superseded attempt): the order is revived if its stock can
  be taken again; otherwise the money is refunded through the gateway at
  once. Never CANCELLED and PAID. A revived order books its delivery date
  again (``orders.rebook_delivery``); if the day is full by then, the order
  goes on with ``slot_held`` false and a ``delivery_issue`` for staff.
- An event whose amount or currency differs from the payment is refused:
  recorded (result ``amount_mismatch``), logged, nothing changed.
- FAILED on a PENDING order: CANCELLED, stock back as ``payment_failed``; a
  card saved with the payment is discarded (``cards.discard_pending``), as
  it is kept (``cards.confirm_pending``) when the payment is PAID.
- REFUNDED (a refund made at the provider): the payment and order follow.
- APPROVED (hosted: approved by the shopper; card: authenticated after
  3-D Secure, Stripe's ``payment_intent.amount_capturable_updated``): captured
  through the gateway's ``confirm`` first, unless the payment is already paid.

``confirm_payment`` is the storefront's call after the shopper authenticated:
the gateway re-reads the payment (``check``) and the state it reads is settled
here like an event (its id names the state, so it is settled once).
"""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import orjson

from models.checkout import cards
from models.checkout import payment as paying
from models.core.db import db, fetch_one, money, transaction, utcnow
from models.core.jobs import enqueue
from models.orders import actions as orders
from models.orders import stock
from models.orders.tables import PAID_PAYMENT_STATUSES, PAYMENT_TRANSITIONS
from models.payments.interface import WebhookEvent, next_action_of

log = logging.getLogger("avantlush.payments")


async def _record(event: WebhookEvent) -> bool:
    row = await fetch_one(
        "INSERT INTO webhook_event (provider, event_id, event_type, payload) VALUES (%s, %s, %s, %s::jsonb) "
        "ON CONFLICT (provider, event_id) DO NOTHING RETURNING id",
        [event.provider, event.event_id[:255], event.kind[:100], orjson.dumps(event.payload).decode()])
    return row is not None


async def _result(event: WebhookEvent, result: str) -> str:
    await db.aio_execute_sql("UPDATE webhook_event SET result = %s WHERE provider = %s AND event_id = %s",
                             [result, event.provider, event.event_id[:255]])
    return result


def _legal(current: str, new: str) -> bool:
    return new in PAYMENT_TRANSITIONS.get(current, ())


async def _payment(provider: str, transaction_id: str, lock: bool) -> tuple | None:
    return await fetch_one("SELECT id, order_id, status, amount, currency FROM payment WHERE provider = %s "
                           "AND transaction_id = %s" + (" FOR UPDATE" if lock else ""), [provider, transaction_id])


def mismatch(event: WebhookEvent, amount: Decimal, currency: str) -> str | None:
    """Why the event's money differs from the payment's (None when it agrees
    or the event does not say)."""
    if event.amount is not None and money(event.amount) != money(amount):
        return f"amount {event.amount} != {amount}"
    if event.currency and event.currency.upper() != (currency or "").upper():
        return f"currency {event.currency} != {currency}"
    return None


async def handle_event(gateway: Any, event: WebhookEvent) -> str:
    """Process one verified event of ``gateway``; answers what happened
    (``duplicate``, ``ignored``, ``unknown_payment``, ``amount_mismatch``,
    ``illegal``, ``applied``, ``revived``, ``refunded``). An APPROVED event is
    confirmed with the provider first (PayPal: captured), unless its amount
    is wrong. Raises GatewayUnavailable when that confirmation fails (the
    provider retries the event)."""
    if event.outcome == "APPROVED" and event.transaction_id:
        known = await _payment(event.provider, event.transaction_id, lock=False)
        if known is not None and known[2] not in ("PENDING", "FAILED"):
            event.outcome = None  # already paid (or refunded): nothing left to capture
        elif known is None or mismatch(event, known[3], known[4]):
            event.outcome = "PAID"  # judged (and refused) below without capturing anything
        else:
            event = await gateway.confirm(event)
    result, refund_order = await _apply(event)
    if refund_order is not None:
        from models.checkout.refunds import RefundFailed
        from models.checkout.refunds import refund_order as refund

        try:
            await refund(refund_order, reason="Paid after the order was cancelled and its stock was gone")
            result = "refunded"
        except RefundFailed as exc:
            log.error("order %s was paid after it was cancelled and could not be refunded: %s; refund it from "
                      "the dashboard", refund_order, exc.message)
            result = "refund_failed"
        await _result(event, result)
    return result


async def _apply(event: WebhookEvent) -> tuple[str, int | None]:
    async with transaction():
        if not await _record(event):
            return "duplicate", None
        outcome = event.outcome if event.outcome != "APPROVED" else None
        if outcome is None or not event.transaction_id:
            return await _result(event, "ignored"), None
        found = await _payment(event.provider, event.transaction_id, lock=False)
        # Order first, then payment: the order's other writers (cancel, expiry, refunds) lock in that order.
        order_row = await fetch_one("SELECT id FROM orders WHERE id = %s FOR UPDATE", [found[1]]) if found else None
        payment = await _payment(event.provider, event.transaction_id, lock=True) if order_row else None
        if payment is None:
            log.warning("%s webhook %s for unknown payment %s", event.provider, event.event_id, event.transaction_id)
            return await _result(event, "unknown_payment"), None
        payment_id, order_id, current, amount, currency = payment
        if outcome == "PAID":
            why = mismatch(event, amount, currency)
            if why:
                log.warning("%s webhook %s refused for payment %s (order %s): %s", event.provider, event.event_id,
                            payment_id, order_id, why)
                await db.aio_execute_sql("UPDATE payment SET failure_message = %s, updated_at = %s WHERE id = %s",
                                         [f"Webhook {event.event_id} refused: {why}"[:500], utcnow(), payment_id])
                return await _result(event, "amount_mismatch"), None
        if outcome == "REFUNDED":
            return await _result(event, await _provider_refund(event, payment)), None
        if current == outcome:
            return await _result(event, "ignored"), None
        if not _legal(current, outcome):
            log.warning("%s webhook %s: payment %s cannot go from %s to %s", event.provider, event.event_id,
                        payment_id, current, outcome)
            return await _result(event, "illegal"), None
        order = await fetch_one("SELECT status, payment_status FROM orders WHERE id = %s FOR UPDATE", [order_id])
        status, payment_status = order
        await db.aio_execute_sql("UPDATE payment SET status = %s, capture_reference = coalesce(%s, capture_reference), "
                                 "updated_at = %s WHERE id = %s",
                                 [outcome, event.capture_reference, utcnow(), payment_id])
        if outcome == "FAILED":
            if status == "PENDING":
                await paying.cancel_unpaid(order_id, "payment_failed", "Payment failed")
                if not await paying.awaits_provider(order_id):  # no confirmation went: no cancellation email either
                    await enqueue("tasks.orders.order_status_changed", order_id, "CANCELLED")
            elif _legal(payment_status, "FAILED"):
                await _set_order(order_id, payment_status="FAILED")
            return await _result(event, "applied"), None
        # PAID
        if status == "PENDING":
            await cards.confirm_pending(order_id)  # a card saved with this payment is usable now
            hosted = await paying.finalize_hosted(order_id)
            await _set_order(order_id, status="PROCESSING", payment_status="PAID", note="Payment paid", notify=not hosted)
            return await _result(event, "applied"), None
        if status == "CANCELLED":
            if await _revive(order_id):
                return await _result(event, "revived"), None
            await _set_order(order_id, payment_status="PAID")
            return await _result(event, "refunding"), order_id
        if _legal(payment_status, "PAID"):
            await _set_order(order_id, payment_status="PAID")
        return await _result(event, "applied"), None


async def _set_order(order_id: int, *, status: str | None = None, payment_status: str | None = None,
                     note: str = "", notify: bool = True) -> None:
    changes = {k: v for k, v in (("status", status), ("payment_status", payment_status)) if v}
    cols = ", ".join(f"{k} = %s" for k in changes)
    await db.aio_execute_sql(f"UPDATE orders SET {cols}, updated_at = %s WHERE id = %s",
                             [*changes.values(), utcnow(), order_id])
    if status:
        await db.aio_execute_sql(
            "INSERT INTO order_tracking (order_id, status, location, description, timestamp) "
            "VALUES (%s, %s, '', %s, %s)", [order_id, status, note or f"Order {status.lower()}", utcnow()])
        if notify:
            await enqueue("tasks.orders.order_status_changed", order_id, status)


async def _revive(order_id: int) -> bool:
    """A cancelled order whose payment arrived after all: take its stock
    again (a savepoint: all lines or none), book its delivery date again
    (a full day flags the order for staff, ``orders.rebook_delivery``, and
    does not stop it: the money is in and the goods are there) and put it
    back in the flow."""
    from models.orders.stock import OutOfStock

    try:
        async with transaction():
            held = await fetch_one("SELECT stock_held FROM orders WHERE id = %s", [order_id])
            if not held[0]:
                await stock.take_stock(await stock.order_lines(order_id), order_id, "payment_revived")
            await db.aio_execute_sql("UPDATE orders SET stock_held = TRUE WHERE id = %s", [order_id])
    except OutOfStock:
        log.warning("order %s was paid after it was cancelled; its stock is gone: refunding", order_id)
        return False
    slot_ok = await orders.rebook_delivery(order_id)
    await cards.confirm_pending(order_id)  # if it was not discarded yet (the hourly clean-up)
    hosted = await paying.finalize_hosted(order_id)
    note = "Payment received after the order was cancelled: order restored"
    if not slot_ok:
        note += " (its delivery date could not be booked again: to be arranged)"
    await _set_order(order_id, status="PROCESSING", payment_status="PAID", note=note, notify=not hosted)
    return True


async def _provider_refund(event: WebhookEvent, payment: tuple) -> str:
    """A refund made at the provider (its dashboard) or the echo of ours:
    record a new one once and let the payment and order follow."""
    from models.checkout.refunds import apply_refunded_total

    payment_id, order_id, current, amount, currency = payment
    if current not in ("PAID", "PARTIALLY_REFUNDED"):
        return "ignored" if current == "REFUNDED" else "illegal"
    if event.currency and event.currency.upper() != (currency or "").upper():
        log.warning("%s refund event %s in %s for a payment in %s: ignored", event.provider, event.event_id,
                    event.currency, currency)
        return "amount_mismatch"
    await fetch_one("SELECT id FROM orders WHERE id = %s FOR UPDATE", [order_id])
    ours = await fetch_one("SELECT count(*) FILTER (WHERE status = 'pending'), "
                           "count(*) FILTER (WHERE provider_reference = %s), "
                           "coalesce(sum(amount) FILTER (WHERE status = 'succeeded'), 0) FROM refund "
                           "WHERE payment_id = %s", [event.refund_reference, payment_id])
    pending, known, refunded = ours
    if pending or known:  # the echo of a refund we are making or made
        return "ignored"
    if event.refund_reference:  # this one refund's amount
        total = refunded + (money(event.amount) if event.amount is not None else money(amount) - refunded)
    else:  # the total refunded so far
        total = money(event.amount) if event.amount is not None else money(amount)
    changed = await apply_refunded_total(order_id, payment_id, min(total, money(amount)), event.provider,
                                         event.refund_reference or event.event_id)
    return "applied" if changed else "ignored"


AUTH_FAILED = "Your card could not be authenticated"
EXPIRED = "The order was cancelled before the payment was authenticated; nothing was charged"


async def confirm_payment(user_id: int, order_id: int) -> dict[str, Any]:
    """Settle the payment of ``user_id``'s order that waited for the shopper's
    authentication: re-read it at the provider, capture it once authenticated.
    Answers the order's payment: status PAID, or REQUIRES_ACTION (still
    waiting; with the provider's ``client_secret`` / ``next_action`` when it
    gives them). Raises NotFound (no such order of this user), PaymentFailed
    (authentication failed or the reservation expired: the order is
    cancelled, its stock back, nothing charged), GatewayUnavailable."""
    from models.core.errors import NotFound
    from models.payments import registry
    from models.payments.interface import PaymentFailed

    query = ("SELECT o.order_number, o.total, o.status, o.payment_status, p.provider, p.transaction_id, "
             "p.failure_message FROM orders o JOIN payment p ON p.order_id = o.id "
             "WHERE o.id = %s AND o.user_id = %s ORDER BY p.id DESC LIMIT 1")
    row = await fetch_one(query, [order_id, user_id])
    if row is None or row[4] not in paying.CARD_PROVIDERS or not row[5]:
        raise NotFound("No card payment of yours with this order id.")
    event = None
    if row[2] == "PENDING" and row[3] == "PENDING":
        gateway = registry.provider(row[4])
        event = await gateway.check(row[5])
        if event.outcome is not None:
            await handle_event(gateway, event)
        row = await fetch_one(query, [order_id, user_id])
    number, total, status, payment_status, _provider, transaction_id, failure = row
    answer: dict[str, Any] = {"success": True, "order_id": order_id, "order_number": number,
                              "transaction_id": transaction_id, "amount": total}
    if payment_status == "PENDING" and status == "PENDING":
        payload = event.payload if event is not None else {}
        return {**answer, "status": "REQUIRES_ACTION", "client_secret": payload.get("client_secret"),
                "next_action": next_action_of(payload.get("next_action"))}
    if status != "CANCELLED" and payment_status in PAID_PAYMENT_STATUSES:
        return {**answer, "status": "PAID"}
    error = (event.payload.get("last_payment_error") or {}) if event is not None else {}
    if isinstance(error, dict) and error.get("message"):
        raise PaymentFailed(str(error["message"]))
    if payment_status in PAID_PAYMENT_STATUSES:
        raise PaymentFailed("The order was cancelled before the payment completed; the payment was refunded")
    # The expiry (or the shopper's cancel) records the payment FAILED too once it is
    # cancelled at the provider: say why, not "could not be authenticated".
    if payment_status != "FAILED" or failure in paying.GIVEN_UP:
        raise PaymentFailed(EXPIRED)
    raise PaymentFailed(AUTH_FAILED)
