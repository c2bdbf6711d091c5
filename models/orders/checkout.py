"""Checkout: price the cart (shipping method, promo code, tax) and keep it as
the shopper's open checkout; pay it through the chosen gateway, which on
success creates the order PAID/PROCESSING in one transaction with its
payment record, takes the stock, redeems the promo code within its usage
limit and empties the cart. A decline changes nothing (the cart stays).

Uses the cart issue's interface: ``models.cart.price_cart``, ``clear_cart``,
``redeem_promo_code``, ``mark_cart_converted`` and
``models.shipping.get_shipping_method`` / ``delivery_date``.
"""
from __future__ import annotations

import secrets
import uuid
from typing import Any

import orjson

from models.core.db import db, fetch_one, money, money_str, transaction, utcnow
from models.core.errors import AppError, Conflict, NotFound, ValidationFailed
from models.orders import actions as orders
from models.orders.actions import OrderDraft, PricedLine, Totals
from models.payments import actions as payments
from models.payments.gateway import CURRENCY, PAYMENT_METHODS, Charge, gateway_for

INVALID = "Invalid shipping method or payment method"
NO_CHECKOUT = "No checkout in progress. Start one at /api/checkout/initiate/."


def _check_payment_method(method: str) -> str:
    method = (method or "stripe").strip().lower()
    if method not in PAYMENT_METHODS:
        raise AppError(INVALID, {"payment_method": [f'"{method}" is not a valid choice.']})
    return method


async def _quote(user_id: int, shipping_method_id: int | None, promo_code: str | None):
    from models import cart

    try:
        return await cart.price_cart(user_id, shipping_method_id=shipping_method_id, promo_code=promo_code or None)
    except ValidationFailed as exc:
        if "shipping_method_id" in exc.errors:
            raise AppError(INVALID, exc.errors) from None
        raise


async def _shipping_method(method_id: int | None) -> dict[str, Any] | None:
    if method_id is None:
        return None
    from models.shipping import get_shipping_method

    method = await get_shipping_method(method_id)
    return {"id": method.id, "name": method.name, "price": money_str(method.price),
            "estimated_days": method.estimated_days}


def _payload(checkout_id: str, quote_doc: dict[str, Any], payment_method: str) -> dict[str, Any]:
    return {"checkout_id": checkout_id, **quote_doc, "payment_method": payment_method}


def _quote_doc(quote: Any, method: dict[str, Any] | None) -> dict[str, Any]:
    """The stored (JSON) form of a cart quote, in the spec's shape."""
    return {
        "subtotal": money_str(quote.subtotal), "shipping_cost": money_str(quote.shipping), "tax": money_str(quote.tax),
        "discount": money_str(quote.discount), "total": money_str(quote.total),
        "promo_code": getattr(quote, "promo_code", None),
        "shipping_method": {k: method[k] for k in ("id", "name", "price")} if method else None,
        "items": [{"product_id": l.product_id, "variation_id": l.variation_id, "name": l.name, "sku": l.sku,
                   "quantity": l.quantity, "price": money_str(l.unit_price), "subtotal": money_str(l.line_total)}
                  for l in quote.lines],
    }


async def initiate_checkout(user: Any, shipping_method_id: int | None, payment_method: str,
                            promo_code: str | None, shipping: dict[str, str]) -> dict[str, Any]:
    """Price the cart and store it as the user's open checkout (replacing an
    earlier open one). Raises AppError(INVALID) for an unknown shipping or
    payment method, ValidationFailed("Cart is empty"), the cart's stock and
    promo errors."""
    method_name = _check_payment_method(payment_method)
    quote = await _quote(user.id, shipping_method_id, promo_code)
    method = await _shipping_method(shipping_method_id)
    doc = _quote_doc(quote, method)
    doc["estimated_days"] = method["estimated_days"] if method else None
    checkout_id = f"checkout_{secrets.token_hex(12)}"
    async with transaction():
        await db.aio_execute_sql("DELETE FROM checkout WHERE user_id = %s AND status = 'open'", [user.id])
        await db.aio_execute_sql(
            "INSERT INTO checkout (id, user_id, shipping_method_id, promo_code_id, payment_method, quote, "
            "shipping_address, status, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, "
            "'open', %s, %s)",
            [checkout_id, user.id, shipping_method_id, quote.promo_code_id, method_name, orjson.dumps(doc).decode(),
             orjson.dumps(shipping).decode(), utcnow(), utcnow()])
    return _public(_payload(checkout_id, doc, method_name))


_KEYS = ("checkout_id", "subtotal", "shipping_cost", "tax", "discount", "total", "promo_code", "shipping_method",
         "payment_method", "items")


def _public(payload: dict[str, Any]) -> dict[str, Any]:
    """The spec's shape in the spec's order (the stored JSONB does not keep it)."""
    return {k: payload.get(k) for k in _KEYS}


async def _open_checkout(user_id: int, lock: bool = False) -> tuple:
    row = await fetch_one(
        "SELECT id, shipping_method_id, promo_code_id, payment_method, quote, shipping_address FROM checkout "
        "WHERE user_id = %s AND status = 'open'" + (" FOR UPDATE" if lock else ""), [user_id])
    if row is None:
        raise NotFound(NO_CHECKOUT)
    return row


async def checkout_summary(user: Any) -> dict[str, Any]:
    checkout_id, _sm, _pc, method, quote, _ship = await _open_checkout(user.id)
    return _public(_payload(checkout_id, quote, method))


async def pay_checkout(user: Any, payment_method_id: str | None, save_card: bool,
                       request_key: str | None) -> dict[str, Any]:
    """Charge the open checkout (re-priced now) and place its order.

    Card gateways: the paid order; hosted ones: a PENDING order holding its
    stock and the page to pay on. Raises NotFound (no checkout), PaymentFailed
    (declined: nothing changed), the cart's errors, OutOfStock.
    """
    from models import cart

    checkout_id, shipping_method_id, _promo_id, method, stored, shipping = await _open_checkout(user.id)
    promo = stored.get("promo_code") if isinstance(stored, dict) else None
    quote = await _quote(user.id, shipping_method_id, promo)
    gateway = gateway_for(method)
    if not getattr(gateway, "hosted", False) and not payment_method_id:
        raise ValidationFailed(errors={"payment_method_id": ["This field is required."]})
    customer_id, name, email = await orders.customer_of_user(user)
    ship = {k: v for k, v in (shipping or {}).items() if v} or await orders.default_shipping(user.id)
    lines = [PricedLine(l.product_id, l.variation_id, l.name, l.sku or "", l.quantity, money(l.unit_price), {})
             for l in quote.lines]
    days = stored.get("estimated_days") if isinstance(stored, dict) else None
    draft = OrderDraft(user_id=user.id, customer_id=customer_id, customer_name=name, customer_email=email,
                       lines=lines, totals=Totals(quote.subtotal, quote.discount, quote.shipping, quote.tax),
                       payment_type="CREDIT", shipping=ship, shipping_method_id=shipping_method_id,
                       promo_code_id=quote.promo_code_id,
                       estimated_days=days if isinstance(days, int) else orders.ESTIMATED_DAYS)
    # The provider's idempotency key: stable for a retry of one request
    # (Idempotency-Key), new otherwise, so that two attempts never share an authorization.
    key = f"{checkout_id}:{request_key or uuid.uuid4().hex}"
    charge = Charge(amount=draft.totals.total, currency=CURRENCY, payment_method_id=payment_method_id,
                    idempotency_key=key, description=f"AvantLush checkout {checkout_id}", customer_email=email,
                    save_card=save_card, metadata={"checkout_id": checkout_id, "user_id": str(user.id)})

    async def on_placed(order_id: int) -> None:
        done = await fetch_one("UPDATE checkout SET status = 'completed', order_id = %s, updated_at = %s "
                               "WHERE id = %s AND status = 'open' RETURNING id", [order_id, utcnow(), checkout_id])
        if done is None:  # another payment of this checkout won
            raise Conflict("This checkout has already been paid.")
        if quote.promo_code_id:
            await cart.redeem_promo_code(quote.promo_code_id)
        await cart.clear_cart(user.id)
        await cart.mark_cart_converted(user.id, order_id)

    return await payments.pay_and_place(draft, gateway, charge, on_placed)
