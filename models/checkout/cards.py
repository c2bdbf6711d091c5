"""Saved cards: one provider customer per user (a Stripe Customer), created on
first need and kept (``payment_customer``, migrations/0021); cards saved with
``save_card`` are attached to it by the provider (``setup_future_usage``);
listed (brand, last4, expiry: nothing else of a card is ever kept), deleted
(detached at the provider first), and used to pay only by their owner.

A card saved during a payment that waits for the shopper's authentication
(3-D Secure) is *pending* (``pending_order_id``, migrations/0029): not
listed, not usable as a saved card, until that payment is settled. Paid
(``confirm_pending``, called where settle marks the order paid): kept.
Failed, expired or cancelled (``discard_pending``, inside the transaction
that cancels the order): deleted, and detached at the provider by a job
(``tasks.checkout.detach_card``, after the commit) in case the provider
attached it when the shopper authenticated (Stripe attaches a
PaymentMethod with ``setup_future_usage`` only once the intent succeeds or
is authorized; detaching one never attached is a no-op). The hourly
clean-up (``prune_pending_cards``) discards those of orders cancelled by
another path (the shopper's own cancel).

Test tokens (``pm_card_*``) name no one card (each use makes a new one at
Stripe), so they are never refused as another user's.
"""
from __future__ import annotations

import logging
from typing import Any

from models.core import cleanup
from models.core.db import db, fetch_all, fetch_one, transaction, utcnow
from models.core.errors import NotFound, ValidationFailed
from models.core.jobs import enqueue
from models.payments import registry
from models.payments.interface import GatewayUnavailable

log = logging.getLogger("avantlush.cards")

NOT_YOURS = "Unknown payment method: use one of your saved cards (GET /api/payment-methods/) or a new card."
GUEST_SAVE = "Cards can be saved by registered customers only."
SHARED_TEST_TOKENS = "pm_card_"


async def customer_for(user_id: int, gateway: Any) -> str:
    """The gateway's customer of ``user_id``: the stored one, else created
    (the provider's idempotency key is the user's uuid: a retry or a race
    answers the same customer) and stored once."""
    query = "SELECT reference FROM payment_customer WHERE user_id = %s AND provider = %s"
    row = await fetch_one(query, [user_id, gateway.name])
    if row is not None:
        return row[0]
    user = await fetch_one("SELECT uuid, email FROM users WHERE id = %s", [user_id])
    reference = await gateway.ensure_customer(f"user-{user[0]}", user[1])
    await db.aio_execute_sql("INSERT INTO payment_customer (user_id, provider, reference) VALUES (%s, %s, %s) "
                             "ON CONFLICT (user_id, provider) DO NOTHING", [user_id, gateway.name, reference])
    row = await fetch_one(query, [user_id, gateway.name])
    return row[0]


async def customer_for_payment(user: Any, gateway: Any, payment_method_id: str | None, save_card: bool) -> str | None:
    """The provider customer a card payment names: the owner's customer when
    ``payment_method_id`` is one of the user's saved cards or the card is to
    be saved; None for a new card not kept. Raises ValidationFailed when the
    card is saved by another user, or a guest asks to save one."""
    if getattr(gateway, "hosted", False) or not hasattr(gateway, "ensure_customer"):
        return None
    if save_card and getattr(user, "is_guest", False):
        raise ValidationFailed(errors={"save_card": [GUEST_SAVE]})
    if payment_method_id and not payment_method_id.startswith(SHARED_TEST_TOKENS):
        owners = await fetch_all("SELECT user_id, customer_reference FROM saved_payment_method "
                                 "WHERE provider = %s AND reference = %s AND pending_order_id IS NULL",
                                 [gateway.name, payment_method_id])
        mine = [customer for owner, customer in owners if owner == user.id]
        if owners and not mine:
            raise ValidationFailed(errors={"payment_method_id": [NOT_YOURS]})
        if mine and mine[0]:
            return mine[0]
    if save_card:
        return await customer_for(user.id, gateway)
    return None


async def list_cards(user_id: int) -> list[dict[str, Any]]:
    """The user's saved cards, newest first (index saved_payment_method_user)."""
    rows = await fetch_all("SELECT id, reference, brand, last4, exp_month, exp_year, created_at "
                           "FROM saved_payment_method WHERE user_id = %s AND pending_order_id IS NULL "
                           "ORDER BY created_at DESC, id DESC", [user_id])
    return [{"id": r[0], "payment_method_id": r[1], "brand": r[2], "last4": r[3], "exp_month": r[4],
             "exp_year": r[5], "created_at": r[6]} for r in rows]


async def delete_card(user_id: int, card_id: int) -> None:
    """Detach the card at its provider, then forget it. Raises NotFound
    (another user's card too), GatewayUnavailable (kept; try again)."""
    row = await fetch_one("SELECT provider, reference FROM saved_payment_method WHERE id = %s AND user_id = %s "
                          "AND pending_order_id IS NULL", [card_id, user_id])
    if row is None:
        raise NotFound("No saved card with this id.")
    gateway = registry.provider(row[0])
    await gateway.detach(row[1])
    await db.aio_execute_sql("DELETE FROM saved_payment_method WHERE id = %s AND user_id = %s", [card_id, user_id])


async def save_card(user_id: int, provider: str, auth: Any, customer_reference: str | None,
                    pending_order_id: int | None = None) -> None:
    """Keep the card of an authorization (inside the caller's transaction):
    usable at once (``pending_order_id`` None: the payment succeeded), or
    pending on that order's authentication. The same card saved again takes
    the newer state of a pending row (a paid use confirms it; a newer pending
    attempt owns it) and never makes a usable card pending."""
    await db.aio_execute_sql(
        "INSERT INTO saved_payment_method (user_id, provider, reference, brand, last4, exp_month, exp_year, "
        "customer_reference, pending_order_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (user_id, provider, reference) DO UPDATE SET pending_order_id = EXCLUDED.pending_order_id, "
        "created_at = EXCLUDED.created_at WHERE saved_payment_method.pending_order_id IS NOT NULL",
        [user_id, provider, auth.reusable_reference, auth.brand[:30], auth.last4[:4], auth.exp_month,
         auth.exp_year, customer_reference, pending_order_id])


async def confirm_pending(order_id: int) -> int:
    """The payment of ``order_id`` succeeded: the card saved with it is kept
    (listed from now, newest). Inside the caller's transaction; how many."""
    rows = await fetch_all("UPDATE saved_payment_method SET pending_order_id = NULL, created_at = %s "
                           "WHERE pending_order_id = %s RETURNING id", [utcnow(), order_id])
    return len(rows)


async def discard_pending(order_id: int) -> int:
    """The payment of ``order_id`` will not succeed (failed, expired,
    cancelled): forget the card saved with it and detach it at the provider
    after the commit (outbox), unless the user keeps the same card saved
    otherwise. Inside the caller's transaction; how many."""
    rows = await fetch_all("DELETE FROM saved_payment_method s WHERE pending_order_id = %s "
                           "RETURNING provider, reference, NOT EXISTS (SELECT 1 FROM saved_payment_method k "
                           "WHERE k.provider = s.provider AND k.reference = s.reference AND k.id <> s.id)",
                           [order_id])
    for provider, reference, alone in rows:
        if alone:
            await enqueue("tasks.checkout.detach_card", provider, reference)
    return len(rows)


async def prune_pending_cards() -> int:
    """Hourly clean-up: discard the pending cards of orders that will never
    be paid by that attempt (cancelled by any path, or no longer waiting)."""
    rows = await fetch_all("SELECT DISTINCT s.pending_order_id FROM saved_payment_method s "
                           "JOIN orders o ON o.id = s.pending_order_id WHERE o.status = 'CANCELLED'")
    removed = 0
    for (order_id,) in rows:
        async with transaction():
            removed += await discard_pending(order_id)
    return removed



async def detach_discarded(provider: str, reference: str) -> bool:
    """Detach at ``provider`` a card discarded by ``discard_pending``, unless
    it has been saved again since (then it stays attached). Raises
    GatewayUnavailable (the task retries). True when detached."""
    row = await fetch_one("SELECT 1 FROM saved_payment_method WHERE provider = %s AND reference = %s",
                          [provider, reference])
    if row is not None:
        return False
    await registry.provider(provider).detach(reference)
    return True


# Attempts of a detach while the provider is unreachable, and the wait before the next (doubling).
DETACH_ATTEMPTS = 8
DETACH_RETRY_SECONDS = 30


async def detach_or_retry(provider: str, reference: str, attempt: int = 0) -> bool:
    """``detach_discarded`` for the task; while the provider is unreachable the
    job is queued again through the outbox (30 s, 1 min, 2 min… up to 10 min,
    ``DETACH_ATTEMPTS`` in all): the wait is a row in PostgreSQL, not a
    message a worker holds (a worker holding a delayed message when Redis
    goes away can die restoring it: celery/kombu's unacked restore)."""
    try:
        return await detach_discarded(provider, reference)
    except GatewayUnavailable:
        if attempt + 1 >= DETACH_ATTEMPTS:
            log.warning("saved cards: %s %s could not be detached after %d attempts", provider, reference,
                        DETACH_ATTEMPTS)
            return False
        async with transaction():
            await enqueue("tasks.checkout.detach_card", provider, reference, attempt + 1,
                          countdown=min(600, DETACH_RETRY_SECONDS * 2 ** attempt))
        return False


cleanup.register("pending_cards", prune_pending_cards)
