"""Checkout: price the cart (shipping method, promo code, tax) for a delivery
address and keep the quote as the shopper's open checkout; pay exactly that
quote through the chosen gateway.

- ``initiate_checkout``: physical goods need a delivery address (``address_id``
  of the user's, a ``shipping_address``, or else the user's default address)
  and a ``shipping_method_id`` that delivers there (models/shipping/zones.py),
  bulky items a ``delivery_date`` (models/shipping/slots.py), a guest an
  ``email``; the quote (lines with unit prices, discount,
  shipping, tax, total) must fit the money columns. Stored as the open checkout.
- ``pay_checkout``: the cart is priced again; if anything differs from the
  stored quote the answer is 409 with the new quote (which the checkout now
  holds: paying again charges it) and nothing is charged. Card gateways: the
  order PAID/PROCESSING in one transaction with its payment record, stock,
  promo use and emptied cart. Hosted gateways: see ``models.checkout.payment``.
"""
from __future__ import annotations

import secrets
import uuid
from typing import Any

import orjson

from models.checkout import cards
from models.checkout import payment as payments
from models.core.db import MONEY_MAX, db, fetch_one, money, money_str, transaction, utcnow
from models.core.errors import AppError, Conflict, NotFound, ValidationFailed
from models.orders import actions as orders
from models.orders.actions import OrderDraft, PricedLine, Totals
from models.payments.interface import CURRENCY, Charge
from models.payments.registry import PAYMENT_METHODS, gateway_for

INVALID = "Invalid shipping method or payment method"
NO_CHECKOUT = "No checkout in progress. Start one at /api/checkout/initiate/."
REQUIRED = "This field is required."
NEED_ADDRESS = ("A delivery address is required for physical goods: give address_id, a shipping_address, "
                "or save a default address.")
GUEST_EMAIL = "A guest checkout needs an email address (the order and its confirmation go to it)."
ADDRESS_KEYS = ("shipping_address", "shipping_city", "shipping_state", "shipping_country", "shipping_zip")


class QuoteChanged(Conflict):
    """The cart or a price changed since the checkout was initiated."""

    message = "Your cart or its prices changed since checkout started; review the new total and pay again."


def _check_payment_method(method: str) -> str:
    method = (method or "stripe").strip().lower()
    if method not in PAYMENT_METHODS:
        raise AppError(INVALID, {"payment_method": [f'"{method}" is not a valid choice.']})
    return method


async def _price(user_id: int, shipping_method_id: int | None, promo_code: str | None,
                 address: dict[str, str] | None = None):
    from models import cart
    from models.shipping import Destination

    try:
        return await cart.price_cart(user_id, shipping_method_id=shipping_method_id, promo_code=promo_code or None,
                                     destination=Destination.from_shipping(address))
    except ValidationFailed as exc:
        if "shipping_method_id" in exc.errors:
            raise AppError(INVALID, exc.errors) from None
        raise


def _check_bounds(quote: Any) -> None:
    """Every amount of the quote fits the order's NUMERIC(12, 2) columns."""
    amounts = [quote.subtotal, quote.total, quote.shipping, quote.tax] + [l.line_total for l in quote.lines]
    if any(money(a) > MONEY_MAX for a in amounts):
        raise ValidationFailed("Order total is too large",
                               errors={"total": [f"The order total cannot exceed {MONEY_MAX}; "
                                                 "order fewer items at once."]})


async def _shipping_method(method_id: int | None, quote: Any = None) -> dict[str, Any] | None:
    """The chosen method as the checkout shows it, at the price quoted for this cart and address."""
    if method_id is None:
        return None
    from models.shipping import get_shipping_method

    method = await get_shipping_method(method_id)
    price = quote.shipping if quote is not None else method.price
    return {"id": method.id, "name": method.name, "price": money_str(price),
            "estimated_days": method.estimated_days}


async def _delivery_slot(method_id: int | None, address: dict[str, str], quote: Any,
                         delivery_date: Any) -> tuple[int | None, Any]:
    """``(zone id, date)`` of a bulky delivery, ``(None, None)`` when this
    delivery is not scheduled: ``models.shipping.plan_delivery`` (the rule
    direct orders follow too). Raises ValidationFailed naming ``delivery_date``."""
    from models import shipping

    if method_id is None or quote.parcel is None:
        return None, None
    method = await shipping.get_shipping_method(method_id)
    return await shipping.plan_delivery(method, shipping.Destination.from_shipping(address), quote.parcel,
                                        delivery_date)


async def _is_physical(product_ids: list[int]) -> bool:
    row = await fetch_one("SELECT coalesce(bool_or(is_physical_product), FALSE) FROM product WHERE id = ANY(%s)",
                          [product_ids])
    return bool(row and row[0])


async def _address(user_id: int, address_id: int | None, given: dict[str, str]) -> dict[str, str]:
    """The delivery address as order shipping fields: ``address_id`` (one of
    the user's), a given address, else the user's default ({} if none)."""
    if address_id is not None:
        row = await fetch_one("SELECT street_address, city, state, country, zip_code FROM address "
                              "WHERE id = %s AND user_id = %s", [address_id, user_id])
        if row is None:
            raise ValidationFailed(errors={"address_id": [f'Invalid pk "{address_id}" - object does not exist.']})
        return dict(zip(ADDRESS_KEYS, row))
    if any(given.get(k) for k in ADDRESS_KEYS):
        return {k: given.get(k) or "" for k in ADDRESS_KEYS}
    return await orders.default_shipping(user_id)


def _quote_doc(quote: Any, method: dict[str, Any] | None) -> dict[str, Any]:
    """The stored (JSON) form of a cart quote, in the spec's shape."""
    return {
        "subtotal": money_str(quote.subtotal), "shipping_cost": money_str(quote.shipping), "tax": money_str(quote.tax),
        "discount": money_str(quote.discount), "total": money_str(quote.total),
        "promo_code": getattr(quote, "promo_code", None),
        "discount_lines": [{**d, "amount": money_str(d["amount"]), "shipping_discount": money_str(d["shipping_discount"])}
                           for d in getattr(quote, "discount_lines", None) or []],
        "shipping_method": {k: method[k] for k in ("id", "name", "price")} if method else None,
        "items": [{"product_id": l.product_id, "variation_id": l.variation_id, "name": l.name, "sku": l.sku,
                   "quantity": l.quantity, "price": money_str(l.unit_price), "subtotal": money_str(l.line_total),
                   "expected_ship_date": _iso(getattr(l, "expected_ship_date", None))}
                  for l in quote.lines],
    }


def _iso(day: Any) -> str | None:
    return day.isoformat() if day is not None else None


def _fingerprint(doc: dict[str, Any]) -> tuple:
    """What the shopper agreed to pay: lines, unit prices and every total."""
    return (tuple((i["product_id"], i["variation_id"], i["quantity"], i["price"]) for i in doc.get("items") or ()),
            doc.get("subtotal"), doc.get("discount"), doc.get("shipping_cost"), doc.get("tax"), doc.get("total"),
            doc.get("promo_code"))


_KEYS = ("checkout_id", "subtotal", "shipping_cost", "tax", "discount", "total", "promo_code", "discount_lines",
         "shipping_method", "payment_method", "items", "shipping_address", "delivery_date")


def _public(checkout_id: str, doc: dict[str, Any], payment_method: str, address: dict[str, str]) -> dict[str, Any]:
    """The spec's shape in the spec's order (the stored JSONB does not keep it)."""
    payload = {"checkout_id": checkout_id, "discount_lines": [], **doc, "payment_method": payment_method,
               "shipping_address": _address_out(address)}
    return {k: payload.get(k) for k in _KEYS}


def _address_out(address: dict[str, str] | None) -> dict[str, str] | None:
    if not address or not any(address.get(k) for k in ADDRESS_KEYS):
        return None
    return {"street_address": address.get("shipping_address", ""), "city": address.get("shipping_city", ""),
            "state": address.get("shipping_state", ""), "country": address.get("shipping_country", ""),
            "zip_code": address.get("shipping_zip", "")}


async def initiate_checkout(user: Any, shipping_method_id: int | None, payment_method: str,
                            promo_code: str | None, shipping: dict[str, str],
                            address_id: int | None = None, delivery_date: Any = None, *,
                            email: str | None = None, full_name: str = "") -> dict[str, Any]:
    """Price the cart for a delivery address (zones and rates: the method must
    deliver there) and store it as the user's open checkout (replacing an
    earlier open one), with the delivery date of bulky items; a guest's with
    the email the order goes to. Raises ValidationFailed naming ``email`` for
    a guest without one, AppError(INVALID) for an unknown shipping or payment
    method or one that does not deliver to the address, ValidationFailed("Cart is empty"), a
    missing address or shipping method for physical goods (naming the
    fields), a missing, out-of-window or full delivery date for bulky items,
    a total beyond the money columns, the cart's stock and promo errors."""
    method_name = _check_payment_method(payment_method)
    if getattr(user, "is_guest", False) and not email:
        raise ValidationFailed(errors={"email": [GUEST_EMAIL]})
    address = await _address(user.id, address_id, shipping)
    quote = await _price(user.id, shipping_method_id, promo_code, address)
    if await _is_physical(sorted({l.product_id for l in quote.lines})):
        missing: dict[str, list[str]] = {}
        if not address.get("shipping_address"):
            missing["shipping_address"] = [NEED_ADDRESS]
        if shipping_method_id is None:
            missing["shipping_method_id"] = [REQUIRED]
        if missing:
            raise ValidationFailed(errors=missing)
    _check_bounds(quote)
    zone_id, day = await _delivery_slot(shipping_method_id, address, quote, delivery_date)
    method = await _shipping_method(shipping_method_id, quote)
    doc = _quote_doc(quote, method)
    doc["estimated_days"] = method["estimated_days"] if method else None
    doc["delivery_date"], doc["delivery_zone_id"] = _iso(day), zone_id
    stored_address = {**address, "billing_address": shipping.get("billing_address") or ""}
    if getattr(user, "is_guest", False):  # a guest's order is linked to the email given here
        stored_address.update(email=email or "", full_name=full_name)
    checkout_id = f"checkout_{secrets.token_hex(12)}"
    async with transaction():
        await db.aio_execute_sql("DELETE FROM checkout WHERE user_id = %s AND status = 'open'", [user.id])
        await db.aio_execute_sql(
            "INSERT INTO checkout (id, user_id, shipping_method_id, promo_code_id, payment_method, quote, "
            "shipping_address, status, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, "
            "'open', %s, %s)",
            [checkout_id, user.id, shipping_method_id, quote.promo_code_id, method_name, orjson.dumps(doc).decode(),
             orjson.dumps(stored_address).decode(), utcnow(), utcnow()])
    return _public(checkout_id, doc, method_name, stored_address)


async def _open_checkout(user_id: int) -> tuple:
    row = await fetch_one(
        "SELECT id, shipping_method_id, promo_code_id, payment_method, quote, shipping_address FROM checkout "
        "WHERE user_id = %s AND status = 'open'", [user_id])
    if row is None:
        raise NotFound(NO_CHECKOUT)
    return row


async def checkout_summary(user: Any) -> dict[str, Any]:
    checkout_id, _sm, _pc, method, quote, address = await _open_checkout(user.id)
    return _public(checkout_id, quote, method, address)


async def _requote(checkout_id: str, stored: dict[str, Any], quote: Any, method: str,
                   address: dict[str, str]) -> None:
    """Keep the new quote on the checkout and answer 409 with it."""
    doc = _quote_doc(quote, stored.get("shipping_method"))
    doc["estimated_days"] = stored.get("estimated_days")
    doc["delivery_date"], doc["delivery_zone_id"] = stored.get("delivery_date"), stored.get("delivery_zone_id")
    await db.aio_execute_sql("UPDATE checkout SET quote = %s::jsonb, promo_code_id = %s, updated_at = %s "
                             "WHERE id = %s AND status = 'open'",
                             [orjson.dumps(doc).decode(), quote.promo_code_id, utcnow(), checkout_id])
    raise QuoteChanged(errors={"quote": ["The cart or its prices changed since checkout was initiated."]},
                       quote=_public(checkout_id, doc, method, address))


def _booked_delivery(stored: dict[str, Any]) -> dict[str, Any]:
    """The delivery date the checkout chose (booked when the order is placed)."""
    import datetime as dt

    day, zone_id = stored.get("delivery_date"), stored.get("delivery_zone_id")
    if not day or not isinstance(zone_id, int):
        return {}
    return {"delivery_date": dt.date.fromisoformat(day), "delivery_zone_id": zone_id}


async def pay_checkout(user: Any, payment_method_id: str | None, save_card: bool,
                       request_key: str | None, return_url: str | None = None) -> dict[str, Any]:
    """Charge exactly the open checkout's quote and place its order.

    Card gateways: the paid order; hosted ones: a PENDING order holding its
    stock and the page to pay on. Raises NotFound (no checkout), QuoteChanged
    (409 with the new quote, nothing charged), PaymentFailed (declined:
    nothing changed), GatewayUnavailable (provider down or not configured:
    cart and promo untouched), the cart's errors, OutOfStock.
    ``return_url`` (checked by the caller, ``payment.return_url_problem``)
    goes to the card provider: a redirect-based authentication comes back there.
    """
    from models import cart

    checkout_id, shipping_method_id, _promo_id, method, stored, address = await _open_checkout(user.id)
    stored = stored if isinstance(stored, dict) else {}
    address = address if isinstance(address, dict) else {}
    gateway = gateway_for(method)
    if not getattr(gateway, "hosted", False) and not payment_method_id:
        raise ValidationFailed(errors={"payment_method_id": [REQUIRED]})
    quote = await _price(user.id, shipping_method_id, stored.get("promo_code"), address)
    fresh = _quote_doc(quote, stored.get("shipping_method"))
    if _fingerprint(fresh) != _fingerprint(stored):
        await _requote(checkout_id, stored, quote, method, address)
    _check_bounds(quote)
    customer_id, name, email = await orders.customer_of_user(user)
    if getattr(user, "is_guest", False):
        name, email = address.get("full_name") or "", address.get("email") or email
    lines = [PricedLine(l.product_id, l.variation_id, l.name, l.sku or "", l.quantity, money(l.unit_price), {})
             for l in quote.lines]
    days = stored.get("estimated_days")
    draft = OrderDraft(user_id=user.id, customer_id=customer_id, customer_name=name, customer_email=email,
                       lines=lines, totals=Totals(quote.subtotal, quote.discount, quote.shipping, quote.tax),
                       payment_type="CREDIT", shipping={k: v for k, v in address.items() if v},
                       shipping_method_id=shipping_method_id, promo_code_id=quote.promo_code_id,
                       estimated_days=days if isinstance(days, int) else orders.ESTIMATED_DAYS,
                       discount_lines=quote.discount_lines, **_booked_delivery(stored))
    if draft.totals.total != money(stored.get("total") or 0):  # the quote's own arithmetic agrees with ours
        await _requote(checkout_id, stored, quote, method, address)
    # The provider's idempotency key: stable for a retry of one request
    # (Idempotency-Key), new otherwise, so that two attempts never share an authorization.
    key = f"{checkout_id}:{request_key or uuid.uuid4().hex}"
    customer_reference = await cards.customer_for_payment(user, gateway, payment_method_id, save_card)
    charge = Charge(amount=draft.totals.total, currency=CURRENCY, payment_method_id=payment_method_id,
                    idempotency_key=key, description=f"AvantLush checkout {checkout_id}", customer_email=email,
                    save_card=save_card, metadata={"checkout_id": checkout_id, "user_id": str(user.id)},
                    customer_reference=customer_reference, return_url=return_url or None)

    async def on_placed(order_id: int) -> None:
        done = await fetch_one("UPDATE checkout SET status = 'completed', order_id = %s, updated_at = %s "
                               "WHERE id = %s AND status = 'open' RETURNING id", [order_id, utcnow(), checkout_id])
        if done is None:  # another payment of this checkout won
            raise Conflict("This checkout has already been paid.")
        if quote.promo_code_id:
            await cart.redeem_promo_code(quote.promo_code_id, order_id=order_id)
            await orders.hold_promo(order_id)
        await cart.clear_cart(user.id)
        await cart.mark_cart_converted(user.id, order_id)

    return await payments.pay_and_place(draft, gateway, charge, on_placed,
                                        payments.HostedStart(checkout_id=checkout_id))


__all__ = ["initiate_checkout", "checkout_summary", "pay_checkout", "QuoteChanged"]
