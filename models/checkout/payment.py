"""Paying for an order: card gateways (authorize → one transaction creates
the PAID order, takes stock, captures → commit) and hosted gateways (the
order is created PENDING holding its stock; only a verified webhook or
capture marks it paid).

Nothing irreversible happens before the money is there. A decline raises
PaymentFailed before anything is written. If the order cannot be created
after an authorization (stock gone meanwhile), the authorization is voided.
The capture is the last step inside the order's transaction, so a failed
capture leaves no order; a commit failing after it is refunded. For hosted
providers the cart, the promo use and the confirmation email wait for the
confirmed payment (``finalize_hosted``); a provider that cannot start the
payment leaves them untouched and its reserved order is cancelled at once
(stock back with reason ``payment_failed``).

A card the issuer wants authenticated (3-D Secure: the gateway answers a
``CustomerAction``) is treated like a hosted payment: the order is created
PENDING holding its stock until ``reserved_until``, its checkout waits
('awaiting'), and the answer carries ``client_secret`` and ``next_action``
(status REQUIRES_ACTION). The provider's webhook or the confirm call
(``settle.confirm_payment``) settles it; the reservation's expiry cancels it.
"""
from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import settings
from models.checkout import cards
from models.core.db import db, fetch_all, fetch_one, transaction, utcnow
from models.core.jobs import enqueue
from models.orders import actions as orders
from models.orders.actions import OrderDraft, PaymentDraft
from models.payments.interface import Charge, GatewayUnavailable, PaymentFailed

log = logging.getLogger("avantlush.payments")

OnPlaced = Callable[[int], Awaitable[None]] | None
# The card gateways whose payments may wait for the shopper's authentication (3-D Secure).
CARD_PROVIDERS = ("test", "stripe")


RETURN_URL_RULE = ("Give an absolute https address (http only on localhost) on the storefront's site "
                   "(FRONTEND_URL) or on a host listed in PAYMENT_RETURN_HOSTS.")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def return_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a payment's ``return_url`` (None: it can). The
    provider sends the shopper there after a bank-redirect authentication,
    so it must be ours: https (http only on localhost, for development), no
    credentials in it, and its host the storefront's site (FRONTEND_URL's
    host, ``www.`` aside, or a subdomain of it) or one of
    ``PAYMENT_RETURN_HOSTS`` (``shop.example.com`` or ``*.example.com``).
    Anything else would make us an open redirect."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        _ = parts.port  # a port that is not a number raises ValueError
    except ValueError:
        return RETURN_URL_RULE
    if not host or parts.username is not None or parts.password is not None or any(c.isspace() for c in url):
        return RETURN_URL_RULE
    if parts.scheme != "https" and not (parts.scheme == "http" and host in LOCAL_HOSTS):
        return RETURN_URL_RULE
    site = (urllib.parse.urlsplit(settings.FRONTEND_URL).hostname or "").lower().removeprefix("www.")
    if site and (host == site or host.endswith("." + site)):
        return None
    for allowed in settings.PAYMENT_RETURN_HOSTS:
        if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
            return None
    return RETURN_URL_RULE


@dataclass
class HostedStart:
    """What a hosted start needs besides the order: the checkout it belongs to
    (linked to the PENDING order while the provider has the shopper)."""

    checkout_id: str | None = None


async def pay_and_place(draft: OrderDraft, gateway: Any, charge: Charge, on_placed: OnPlaced = None,
                        hosted: HostedStart | None = None) -> dict[str, Any]:
    """Charge ``charge`` through ``gateway`` and create the order of ``draft``.

    Card gateways: the answer is the paid order; ``on_placed(order_id)`` runs
    in the order's transaction (redeem the promo code, empty the cart).
    Hosted gateways: a PENDING order holding its stock and the page to send
    the shopper to; cart, promo and confirmation wait for the payment.
    Raises PaymentFailed (nothing changed), OutOfStock (authorization voided),
    GatewayUnavailable (hosted: the reserved order is cancelled, nothing else changed).
    """
    if getattr(gateway, "hosted", False):
        return await _start_hosted(draft, gateway, charge, hosted or HostedStart())
    auth = await gateway.authorize(charge)
    if not auth.ok:
        raise PaymentFailed(auth.message or "Your card was declined")
    if auth.action is not None:
        return await _await_authentication(draft, gateway, charge, auth, hosted or HostedStart())
    draft.status, draft.payment_status, draft.payment_method = "PROCESSING", "PAID", gateway.name
    committed = False
    try:
        async with transaction():
            order_id, number = await orders.create_order(
                draft, PaymentDraft(provider=gateway.name, method=auth.method, status="PAID",
                                    transaction_id=auth.transaction_id))
            if on_placed is not None:
                await on_placed(order_id)
            await _save_card(draft, gateway, charge, auth)
            # Last, so that a failed capture rolls the order back.
            await gateway.capture(auth.transaction_id, draft.totals.total, charge.idempotency_key + "-capture")
        committed = True
    finally:
        if not committed:
            await _undo(gateway, auth.transaction_id, draft, charge)
    return {"success": True, "order_id": order_id, "order_number": number, "transaction_id": auth.transaction_id,
            "amount": draft.totals.total, "status": "PAID"}


async def _save_card(draft: OrderDraft, gateway: Any, charge: Charge, auth: Any,
                     pending_order_id: int | None = None) -> None:
    """``save_card``: the provider's reference, brand, last4 and expiry only;
    pending on ``pending_order_id``'s authentication when given (not listed
    until its payment succeeds, models/checkout/cards.py)."""
    if charge.save_card and auth.reusable_reference and draft.user_id:
        await cards.save_card(draft.user_id, gateway.name, auth, charge.customer_reference, pending_order_id)


async def _await_authentication(draft: OrderDraft, gateway: Any, charge: Charge, auth: Any,
                                hosted: HostedStart) -> dict[str, Any]:
    """The card needs the shopper's authentication: a PENDING order holding
    its stock (it expires with its reservation) and what the storefront needs
    to finish. The authorization is released if the order cannot be made."""
    draft.status, draft.payment_status, draft.payment_method = "PENDING", "PENDING", gateway.name
    committed = False
    try:
        async with transaction():
            order_id, number = await orders.create_order(
                draft, PaymentDraft(provider=gateway.name, method=auth.method, status="PENDING",
                                    transaction_id=auth.transaction_id, currency=charge.currency), notify=False)
            if hosted.checkout_id is not None:
                await _await_provider(hosted.checkout_id, order_id)
            await _save_card(draft, gateway, charge, auth, pending_order_id=order_id)
        committed = True
    finally:
        if not committed:
            await _undo(gateway, auth.transaction_id, draft, charge)
    return {"success": True, "order_id": order_id, "order_number": number, "transaction_id": auth.transaction_id,
            "amount": draft.totals.total, "status": "REQUIRES_ACTION", "client_secret": auth.action.client_secret,
            "next_action": auth.action.next_action}


async def _undo(gateway: Any, transaction_id: str, draft: OrderDraft, charge: Charge) -> None:
    """No order after an authorization: release it (or refund a capture)."""
    try:
        await gateway.void(transaction_id, charge.idempotency_key + "-void")
    except Exception:  # noqa: BLE001
        try:
            await gateway.refund(transaction_id, draft.totals.total, charge.idempotency_key + "-refund",
                                 charge.currency)
        except Exception:  # noqa: BLE001
            log.exception("could not release payment %s of a failed order: refund it by hand", transaction_id)


async def _start_hosted(draft: OrderDraft, gateway: Any, charge: Charge, hosted: HostedStart) -> dict[str, Any]:
    draft.status, draft.payment_status, draft.payment_method = "PENDING", "PENDING", gateway.name
    async with transaction():
        order_id, number = await orders.create_order(
            draft, PaymentDraft(provider=gateway.name, method=gateway.label, status="PENDING",
                                currency=charge.currency), notify=False)
        if hosted.checkout_id is not None:
            await _await_provider(hosted.checkout_id, order_id)
    items = [{"name": l.name, "quantity": l.quantity, "unit_price": l.unit_price} for l in draft.lines]
    try:
        session = await gateway.start_hosted(charge, number, items)
    except GatewayUnavailable as exc:
        log.warning("%s could not start the payment of order %s: %s", gateway.name, number, exc.reason)
        await _failed_start(order_id, hosted.checkout_id, exc.reason)
        raise
    except BaseException:
        log.exception("%s could not start the payment of order %s", gateway.name, number)
        await _failed_start(order_id, hosted.checkout_id, "error")
        raise
    await db.aio_execute_sql("UPDATE payment SET transaction_id = %s, updated_at = %s WHERE order_id = %s "
                             "AND provider = %s AND transaction_id IS NULL",
                             [session.transaction_id, utcnow(), order_id, gateway.name])
    return {"success": True, "order_id": order_id, "order_number": number, "transaction_id": session.transaction_id,
            "amount": draft.totals.total, "status": "PENDING", "redirect_url": session.redirect_url}


async def _await_provider(checkout_id: str, order_id: int) -> None:
    """The open checkout waits for the provider, linked to its order; a
    concurrent payment of the same checkout loses (409, its order rolled back)."""
    from models.core.errors import Conflict

    row = await fetch_one("UPDATE checkout SET status = 'awaiting', order_id = %s, updated_at = %s "
                          "WHERE id = %s AND status = 'open' RETURNING id", [order_id, utcnow(), checkout_id])
    if row is None:
        raise Conflict("This checkout is already being paid.")


async def _failed_start(order_id: int, checkout_id: str | None, reason: str) -> None:
    """The provider never took the payment: cancel the reserved order (stock
    back as ``payment_failed``), and the checkout is open again as it was."""
    async with transaction():
        await cancel_unpaid(order_id, "payment_failed", f"Payment could not be started: {reason}"[:500])
        if checkout_id is not None:
            await db.aio_execute_sql(
                "UPDATE checkout SET status = 'open', order_id = NULL, updated_at = %s WHERE id = %s "
                "AND status = 'awaiting' AND NOT EXISTS (SELECT 1 FROM checkout c WHERE c.user_id = checkout.user_id "
                "AND c.status = 'open')", [utcnow(), checkout_id])


async def cancel_unpaid(order_id: int, reason: str, description: str) -> bool:
    """Cancel a PENDING order whose payment failed or never started: payment
    FAILED, stock back once (``reason`` on the stock movements). Inside the
    caller's transaction; False if the order was no longer PENDING."""
    row = await fetch_one("SELECT status FROM orders WHERE id = %s FOR UPDATE", [order_id])
    if not row or row[0] != "PENDING":
        return False
    await db.aio_execute_sql("UPDATE orders SET status = 'CANCELLED', payment_status = 'FAILED', "
                             "updated_at = %s WHERE id = %s", [utcnow(), order_id])
    await db.aio_execute_sql("UPDATE payment SET status = 'FAILED', failure_message = %s, updated_at = %s "
                             "WHERE order_id = %s AND status = 'PENDING'", [description, utcnow(), order_id])
    await orders.release_stock(order_id, reason)
    await db.aio_execute_sql(
        "INSERT INTO order_tracking (order_id, status, location, description, timestamp) "
        "VALUES (%s, 'CANCELLED', '', %s, %s)", [order_id, description, utcnow()])
    await cards.discard_pending(order_id)
    return True


async def finalize_hosted(order_id: int) -> bool:
    """The hosted payment of ``order_id`` is confirmed: complete its checkout,
    redeem its promo code, empty the buyer's cart and send the confirmation —
    inside the caller's transaction, once (the checkout leaves 'awaiting').
    False when the order did not come from a hosted checkout (its
    confirmation went when it was placed)."""
    from models import cart

    row = await fetch_one("UPDATE checkout SET status = 'completed', updated_at = %s WHERE order_id = %s "
                          "AND status = 'awaiting' RETURNING user_id", [utcnow(), order_id])
    if row is None:
        return False
    user_id = row[0]
    promo = await fetch_one("SELECT promo_code_id FROM orders WHERE id = %s", [order_id])
    if promo and promo[0]:
        try:
            async with transaction():  # a savepoint: the money is in, a spent code must not refuse it
                await cart.redeem_promo_code(promo[0], order_id=order_id)
                await orders.hold_promo(order_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("order %s paid with promo code %s that has no use left: %s", order_id, promo[0], exc)
    await cart.clear_cart(user_id)
    await cart.mark_cart_converted(user_id, order_id)
    await enqueue("tasks.orders.order_placed", order_id)
    return True


async def awaits_provider(order_id: int) -> bool:
    """Whether ``order_id`` belongs to a hosted checkout still waiting for its payment."""
    row = await fetch_one("SELECT 1 FROM checkout WHERE order_id = %s AND status = 'awaiting'", [order_id])
    return row is not None


async def expire_unpaid(now: Any = None) -> list[int]:
    """The beat's expiry of unpaid orders (``orders.expire_unpaid_orders``)
    with what checkout adds in the same transaction (``_expired``). Returns
    the ids cancelled; ``release_expired`` then cancels their payments at
    the provider."""
    return await orders.expire_unpaid_orders(now, on_expired=_expired)


async def _expired(order_id: int) -> bool:
    """An order expired while its payment waited for the shopper (3-D Secure
    not completed, or never paid at a hosted provider): the card saved with
    it is discarded, and the shopper gets "your payment was not completed,
    your order was not placed" (``tasks.checkout.payment_not_completed``)
    instead of the shop's "your order was cancelled": no confirmation ever
    went for it, the shop did not cancel anything, nothing was charged and
    the cart is still there to pay again.

    Why an email at all: Shopify and Saleor create the order only once the
    payment went through, so an abandoned authentication leaves no order and
    no cancellation email; Shopify follows up with its abandoned-checkout
    email instead ("complete your purchase"). Here the order exists (it held
    the stock) and shows CANCELLED in the shopper's order list, and the
    shopper was told REQUIRES_ACTION, not "declined": a short word that the
    order was not placed, nothing was taken and the cart waits is what
    those shops' abandoned-checkout email amounts to, true to what happened.
    Orders placed without a provider waiting (direct orders, whose
    confirmation went) keep the usual status email (False)."""
    await cards.discard_pending(order_id)
    if not await awaits_provider(order_id):
        return False
    await enqueue("tasks.checkout.payment_not_completed", order_id)
    return True


# Why a payment that waited for 3-D Secure was given up (payment.failure_message;
# settle.confirm_payment tells these apart from a failed authentication).
NOT_AUTHENTICATED_IN_TIME = "Not authenticated before the order's reservation expired"
CANCELLED_BEFORE_AUTHENTICATION = "Cancelled by the customer before the payment was authenticated"
GIVEN_UP = (NOT_AUTHENTICATED_IN_TIME, CANCELLED_BEFORE_AUTHENTICATION)


async def cancel_by_shopper(order_id: int, user_id: int | None) -> dict[str, Any]:
    """The shopper cancels their unpaid order (``orders.cancel_order``: stock
    and promo use back; NotFound, InvalidTransition), then what checkout adds
    once that is committed: a card payment still waiting for its 3-D Secure is
    cancelled at the provider and recorded FAILED (``release_expired``), so
    that authenticating it later, in another tab, cannot capture it and
    revive the order the shopper cancelled; a card saved with it is discarded."""
    answer = await orders.cancel_order(order_id, user_id)
    async with transaction():
        await cards.discard_pending(order_id)
    await release_expired([order_id], CANCELLED_BEFORE_AUTHENTICATION)
    return answer


async def release_expired(order_ids: list[int],
                          why: str = NOT_AUTHENTICATED_IN_TIME) -> int:
    """Card payments still waiting for the shopper's authentication when
    their order expired (or was cancelled): cancelled at the provider (the
    shopper can no longer complete them; nothing is charged) and recorded
    FAILED with ``why``. A provider that cannot be reached is logged and
    skipped (a late authentication is then settled like any late payment:
    revived or refunded). Returns how many."""
    from models.payments import registry

    if not order_ids:
        return 0
    rows = await fetch_all(
        "SELECT p.id, p.order_id, p.provider, p.transaction_id FROM payment p JOIN orders o ON o.id = p.order_id "
        "WHERE p.order_id = ANY(%s) AND o.status = 'CANCELLED' AND p.status = 'PENDING' "
        "AND p.provider = ANY(%s) AND p.transaction_id IS NOT NULL", [list(order_ids), list(CARD_PROVIDERS)])
    released = 0
    for payment_id, order_id, provider, transaction_id in rows:
        try:
            await registry.provider(provider).void(transaction_id, f"{transaction_id}-expired")
        except GatewayUnavailable as exc:
            log.warning("could not cancel payment %s of expired order %s: %s", transaction_id, order_id, exc.reason)
            continue
        async with transaction():
            await db.aio_execute_sql(
                "UPDATE payment SET status = 'FAILED', failure_message = %s, updated_at = %s "
                "WHERE id = %s AND status = 'PENDING'",
                [why, utcnow(), payment_id])
            await db.aio_execute_sql("UPDATE orders SET payment_status = 'FAILED', updated_at = %s "
                                     "WHERE id = %s AND payment_status = 'PENDING'", [utcnow(), order_id])
        released += 1
    return released
