"""Order use cases: place (customer and admin), update, change status, track,
delete, bulk actions. Every write is one transaction; a 4xx changes nothing.

Prices come from the database for shoppers (CONTRACT); an admin may set item
prices. Totals are computed here in Decimal, half-up to the cent:
subtotal − discount + shipping + tax (``TAX_RATE`` of subtotal − discount).

Triggers (migrations/README.md): order writes move the status counts (0008
order_status_count_change), the dashboard rollups and the customer's
orders_count/balance (0009, 0013 order_rollups_change: revenue = paid orders
less ``refunded_amount``) and the order lists' cache version (0008
order_version_*), all at commit; stock through stock.py; delivery slots
through models/shipping/slots.py (booked in create_order for checkout and
direct orders alike, given back with the stock, booked again when a late
payment revives the order: ``rebook_delivery``). An order keeps the promotion
that priced it (``discount_lines``, as the cart explained it).
A customer's unpaid order holds its stock until ``reserved_until``
(``UNPAID_ORDER_TTL_MINUTES``); ``expire_unpaid_orders`` cancels it then.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Awaitable, Callable, Iterable

import orjson

import settings
from models.catalog.tables import MAX_LINE_QUANTITY, line_unit_price
from models.core.db import MONEY_MAX, db, fetch_all, fetch_one, money, transaction, utcnow
from models.core.errors import AppError, NotFound, ValidationFailed
from models.core.jobs import enqueue
from models.orders import stock
from models.orders.queries import ESTIMATED_DAYS
from models.orders.tables import (
    PAYMENT_TRANSITIONS,
    REFUND_ENDPOINT,
    REFUND_PAYMENT_STATUSES,
    REFUND_STATUSES,
    SHIPMENT_UNDO,
    STATUSES,
    TRANSITIONS,
)

log = logging.getLogger("avantlush.orders")

CART_EMPTY = "Cart is empty"
NO_ITEMS = "Order must have at least one item"
TOO_MUCH = f"Ensure this value is less than or equal to {MAX_LINE_QUANTITY}."
TOO_EXPENSIVE = f"The amount is too large (at most {MONEY_MAX})."
CHOOSE_VARIATION = "This product has variations: choose one (variation_id)."
# Statuses in which an order does not hold stock (an admin may record one as such).
NO_STOCK_STATUSES = ("CANCELLED", "RETURNED")


@dataclass
class LineIn:
    product_id: int
    quantity: int
    variation_id: int | None = None
    price: Decimal | None = None  # admin only
    variants: dict = field(default_factory=dict)


@dataclass
class PricedLine:
    product_id: int
    variation_id: int | None
    name: str
    sku: str
    quantity: int
    unit_price: Decimal
    variants: dict

    @property
    def total(self) -> Decimal:
        return money(self.unit_price * self.quantity)


@dataclass
class Totals:
    subtotal: Decimal
    discount: Decimal = Decimal("0.00")
    shipping: Decimal = Decimal("0.00")
    tax: Decimal | None = None

    def __post_init__(self) -> None:
        self.subtotal = money(self.subtotal)
        self.discount = min(money(self.discount), self.subtotal)
        self.shipping = money(self.shipping)
        if self.tax is None:
            self.tax = money((self.subtotal - self.discount) * settings.TAX_RATE)

    @property
    def total(self) -> Decimal:
        return money(self.subtotal - self.discount + self.shipping + self.tax)

    def check_bounds(self) -> None:
        """ValidationFailed unless every amount fits its column (NUMERIC(12,2))."""
        for name in ("subtotal", "shipping", "tax", "total"):
            if abs(getattr(self, name)) > MONEY_MAX:
                raise ValidationFailed(TOO_EXPENSIVE, errors={"items": [TOO_EXPENSIVE]})


class InvalidTransition(AppError):
    status = 400


def _missing(pk: Any) -> str:
    return f'Invalid pk "{pk}" - object does not exist.'


async def price_lines(lines: list[LineIn], *, admin: bool) -> list[PricedLine]:
    """The lines with names, SKUs and unit prices from the database (an
    admin's own prices kept). Shoppers may only order published products.
    Two queries whatever the number of lines. Raises ValidationFailed keyed
    ``items.N.product_id`` / ``items.N.variation_id``."""
    if not lines:
        raise ValidationFailed(errors={"items": [NO_ITEMS]})
    product_ids = sorted({l.product_id for l in lines})
    variation_ids = sorted({l.variation_id for l in lines if l.variation_id is not None})
    products = {r[0]: r for r in await fetch_all(
        "SELECT id, name, sku, price, base_price, status, "
        "EXISTS (SELECT 1 FROM product_variation v WHERE v.product_id = product.id) "
        "FROM product WHERE id = ANY(%s)", [product_ids])}
    variations = {r[0]: r for r in await fetch_all(
        "SELECT id, product_id, variation_type, variation, price_adjustment, sku FROM product_variation "
        "WHERE id = ANY(%s)", [variation_ids])} if variation_ids else {}
    errors: dict[str, list[str]] = {}
    priced: list[PricedLine] = []
    for n, line in enumerate(lines):
        product = products.get(line.product_id)
        if product is None or (not admin and product[5] != "published"):
            errors[f"items.{n}.product_id"] = [_missing(line.product_id)]
            continue
        _, name, sku, price, _base_price, _status, has_variations = product
        if not 1 <= line.quantity <= MAX_LINE_QUANTITY:
            errors[f"items.{n}.quantity"] = [TOO_MUCH]
            continue
        variants = dict(line.variants or {})
        adjustment = None
        if line.variation_id is not None:
            var = variations.get(line.variation_id)
            if var is None or var[1] != line.product_id:
                errors[f"items.{n}.variation_id"] = [_missing(line.variation_id)]
                continue
            adjustment = var[4]
            sku = var[5] or sku
            if var[2] or var[3]:
                variants.setdefault(var[2] or "variation", var[3])
        elif has_variations:
            errors[f"items.{n}.variation_id"] = [CHOOSE_VARIATION]
            continue
        unit = money(line.price) if (admin and line.price is not None) else line_unit_price(price, adjustment)
        priced_line = PricedLine(line.product_id, line.variation_id, name, sku or "", line.quantity, unit, variants)
        if priced_line.total > MONEY_MAX:
            errors[f"items.{n}.quantity"] = [TOO_EXPENSIVE]
            continue
        priced.append(priced_line)
    if errors:
        raise ValidationFailed(errors=errors)
    return priced


@dataclass
class OrderDraft:
    """Everything an order is created from (validated by the caller)."""

    user_id: int | None
    customer_id: int | None
    customer_name: str
    customer_email: str
    lines: list[PricedLine]
    totals: Totals
    status: str = "PENDING"
    payment_status: str = "PENDING"
    payment_type: str = "CREDIT"
    order_type: str = "STANDARD"
    payment_method: str = ""
    shipping: dict[str, str] = field(default_factory=dict)  # shipping_address/city/state/country/zip, billing_address
    note: str = ""
    created_at: dt.datetime | None = None
    shipping_method_id: int | None = None
    promo_code_id: int | None = None
    estimated_days: int = ESTIMATED_DAYS
    # The caller took one use of promo_code_id in this transaction (given back
    # once if the order is cancelled).
    promo_held: bool = False
    # A customer's unpaid order holds its stock for UNPAID_ORDER_TTL_MINUTES
    # and counts towards MAX_OPEN_UNPAID_ORDERS; False for orders staff record.
    expires: bool = True
    # A bulky delivery's date, booked in the zone's slots when the order is
    # placed (models/shipping/slots.py) and given back with its stock.
    delivery_date: dt.date | None = None
    delivery_zone_id: int | None = None
    # The promotion that priced it (models/cart/promo.py DiscountLine payloads), kept on the order.
    discount_lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reserves(self) -> bool:
        """Whether this order is an unpaid reservation that expires."""
        return (self.expires and self.user_id is not None and self.status == "PENDING"
                and self.payment_status == "PENDING")


@dataclass
class PaymentDraft:
    provider: str
    method: str
    status: str
    transaction_id: str | None = None
    currency: str = "USD"


async def create_order(draft: OrderDraft, payment: PaymentDraft | None = None, *,
                       reason: str = "order", notify: bool = True) -> tuple[int, str]:
    """Insert the order, its items, its payment record and first tracking
    event, and take its stock — inside the caller's transaction (or its own).
    ``notify=False`` defers the confirmation (``tasks.orders.order_placed``)
    to the caller: a hosted checkout sends it once the payment is confirmed.
    Returns ``(id, order_number)``. Raises OutOfStock, ValidationFailed
    (amounts beyond the columns) or TooManyUnpaidOrders (nothing written)."""
    created = draft.created_at or utcnow()
    holds_stock = draft.status not in NO_STOCK_STATUSES
    ship = draft.shipping
    draft.totals.check_bounds()
    reserved_until = None
    if draft.reserves:
        reserved_until = utcnow() + dt.timedelta(minutes=settings.UNPAID_ORDER_TTL_MINUTES)
    async with transaction():
        if draft.reserves:
            await check_unpaid_cap(draft.user_id)
        row = await fetch_one(
            "INSERT INTO orders (order_number, user_id, customer_id, customer_name, customer_email, status, "
            "payment_status, payment_type, order_type, payment_method, subtotal, discount, shipping_cost, tax, total, "
            "shipping_address, shipping_city, shipping_state, shipping_country, shipping_zip, billing_address, "
            "shipping_method_id, promo_code_id, estimated_delivery_date, note, stock_held, created_at, updated_at, "
            "reserved_until, promo_held, discount_lines) "
            "VALUES (next_order_number(timezone('utc', now())), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb) RETURNING id, order_number",
            [draft.user_id, draft.customer_id, draft.customer_name, draft.customer_email, draft.status,
             draft.payment_status, draft.payment_type, draft.order_type, draft.payment_method,
             draft.totals.subtotal, draft.totals.discount, draft.totals.shipping, draft.totals.tax, draft.totals.total,
             ship.get("shipping_address", ""), ship.get("shipping_city", ""), ship.get("shipping_state", ""),
             ship.get("shipping_country", ""), ship.get("shipping_zip", ""), ship.get("billing_address", ""),
             draft.shipping_method_id, draft.promo_code_id, _estimated_delivery(created, draft.estimated_days),
             draft.note, holds_stock, created, utcnow(), reserved_until,
             bool(draft.promo_held and draft.promo_code_id), discount_lines_json(draft.discount_lines)])
        order_id, number = row
        lines = draft.lines
        await db.aio_execute_sql(
            "INSERT INTO order_item (order_id, product_id, variation_id, product_name, product_sku, variants, "
            "quantity, unit_price, total_price) "
            "SELECT %s, * FROM unnest(%s::int[], %s::int[], %s::varchar[], %s::varchar[], %s::jsonb[], %s::int[], "
            "%s::numeric[], %s::numeric[])",
            [order_id, [l.product_id for l in lines], [l.variation_id for l in lines], [l.name for l in lines],
             [l.sku for l in lines], [orjson.dumps(l.variants).decode() for l in lines],
             [l.quantity for l in lines], [l.unit_price for l in lines], [l.total for l in lines]])
        if holds_stock:
            ships = await stock.take_stock([stock.StockLine(l.product_id, l.variation_id, l.quantity, l.name)
                                            for l in lines], order_id, reason, today=created.date())
            await _record_delivery(order_id, draft, ships, created)
        pay = payment or PaymentDraft(provider="manual", method=draft.payment_method or draft.payment_type,
                                      status=draft.payment_status)
        await db.aio_execute_sql(
            "INSERT INTO payment (order_id, user_id, provider, method, amount, currency, status, transaction_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [order_id, draft.user_id, pay.provider, pay.method, draft.totals.total, pay.currency, pay.status,
             pay.transaction_id])
        await db.aio_execute_sql(
            "INSERT INTO order_tracking (order_id, status, location, description, timestamp) VALUES (%s, %s, '', %s, %s)",
            [order_id, draft.status, "Order placed", created])
        if notify:
            await enqueue("tasks.orders.order_placed", order_id)
    return order_id, number


async def _record_delivery(order_id: int, draft: OrderDraft, ships: dict, created: dt.datetime) -> None:
    """Each line's expected ship date; the delivery date booked (bulky items:
    after the window is checked against the ship dates the stock gave) or,
    when some line ships later than today, the estimated delivery moved by
    as much. Raises SlotUnavailable (a full day) or ValidationFailed (a date
    before the goods can arrive): the caller rolls back."""
    from models.shipping import book_slot, check_window

    if ships:
        keys = list(ships)
        await db.aio_execute_sql(
            "UPDATE order_item i SET expected_ship_date = d.ship FROM unnest(%s::int[], %s::int[], %s::date[]) "
            "AS d(product_id, variation_id, ship) WHERE i.order_id = %s AND i.product_id = d.product_id "
            "AND COALESCE(i.variation_id, 0) = COALESCE(d.variation_id, 0)",
            [[k[0] for k in keys], [k[1] for k in keys], [ships[k] for k in keys], order_id])
    latest = max((d for d in ships.values() if d is not None), default=created.date())
    estimated = None
    if draft.delivery_date is not None and draft.delivery_zone_id is not None:
        check_window(max(latest, utcnow().date()), draft.delivery_date)
        await book_slot(draft.delivery_zone_id, draft.delivery_date)
        await db.aio_execute_sql("UPDATE orders SET delivery_date = %s, delivery_zone_id = %s, slot_held = TRUE "
                                 "WHERE id = %s", [draft.delivery_date, draft.delivery_zone_id, order_id])
        estimated = draft.delivery_date
    elif latest > created.date():
        estimated = _estimated_delivery(dt.datetime.combine(latest, created.time()), draft.estimated_days)
    if estimated is not None:
        await db.aio_execute_sql("UPDATE orders SET estimated_delivery_date = %s WHERE id = %s", [estimated, order_id])


async def release_delivery(order_id: int) -> None:
    """Give back the delivery date the order booked, once (flag cleared conditionally)."""
    from models.shipping import release_slot

    row = await fetch_one("UPDATE orders SET slot_held = FALSE WHERE id = %s AND slot_held "
                          "RETURNING delivery_zone_id, delivery_date", [order_id])
    if row is not None:
        await release_slot(row[0], row[1])


REBOOK_FULL = ("Paid after the order had expired, when its delivery date {day} was fully booked: "
               "arrange another date with the customer.")
REBOOK_PASSED = "Paid after its delivery date {day} had passed: arrange another date with the customer."
REBOOK_NO_ZONE = ("Paid after the order had expired; its delivery zone no longer exists, so {day} could not be "
                  "booked again: arrange the delivery with the customer.")


async def rebook_delivery(order_id: int) -> bool:
    """A cancelled order revived by a late payment (models/checkout/settle.py)
    takes its delivery date again, inside the caller's transaction. When the
    day is full by then (or has passed, or its zone was deleted) the order
    still goes on: ``delivery_date`` is kept, ``slot_held`` stays false and
    ``delivery_issue`` says why, for staff (the order detail shows it).
    Returns False when flagged; True when booked or when there is no date."""
    from models.shipping import SlotUnavailable, book_slot

    row = await fetch_one("SELECT delivery_zone_id, delivery_date, slot_held FROM orders WHERE id = %s",
                          [order_id])
    if row is None or row[1] is None or row[2]:
        return True
    zone_id, day, _held = row
    issue = None
    if day <= utcnow().date():
        issue = REBOOK_PASSED
    elif zone_id is None:
        issue = REBOOK_NO_ZONE
    else:
        try:
            await book_slot(zone_id, day)  # one conditional statement: never overbooked
        except SlotUnavailable:
            issue = REBOOK_FULL
    if issue is None:
        await db.aio_execute_sql("UPDATE orders SET slot_held = TRUE, delivery_issue = NULL WHERE id = %s",
                                 [order_id])
        return True
    text = issue.format(day=day.isoformat())
    log.warning("order %s: %s", order_id, text)
    await db.aio_execute_sql("UPDATE orders SET delivery_issue = %s WHERE id = %s", [text, order_id])
    return False


def discount_lines_json(lines: Iterable[dict[str, Any]]) -> str:
    """The promotion lines as the order stores them: money as two-decimal strings."""
    return orjson.dumps([{**line, "amount": f"{money(line.get('amount') or 0):.2f}",
                          "shipping_discount": f"{money(line.get('shipping_discount') or 0):.2f}"}
                         for line in lines or ()]).decode()


def _estimated_delivery(created: dt.datetime, days: int) -> dt.date | None:
    try:
        return created.date() + dt.timedelta(days=days)
    except OverflowError:  # an order dated at the end of the calendar
        return None


# --- unpaid orders: a cap, an expiry --------------------------------------------------

class TooManyUnpaidOrders(AppError):
    status = 400


_UNPAID_CAP_LOCK = 16_001  # pg_advisory_xact_lock(namespace, user id)


async def check_unpaid_cap(user_id: int) -> None:
    """TooManyUnpaidOrders when the user already has MAX_OPEN_UNPAID_ORDERS
    unpaid orders holding stock. Inside the placing transaction: a per-user
    advisory lock makes concurrent placements count one after the other."""
    await fetch_one("SELECT pg_advisory_xact_lock(%s, %s)", [_UNPAID_CAP_LOCK, user_id])
    row = await fetch_one(
        "SELECT count(*) FROM orders WHERE user_id = %s AND status = 'PENDING' AND payment_status = 'PENDING' "
        "AND reserved_until IS NOT NULL", [user_id])  # index orders_unpaid_user
    limit = settings.MAX_OPEN_UNPAID_ORDERS
    if row[0] >= limit:
        text = (f"You already have {row[0]} unpaid orders (at most {limit}). "
                "Pay for one or cancel it (POST /api/orders/{id}/cancel/) before placing another.")
        raise TooManyUnpaidOrders(text, {"non_field_errors": [text]}, open_unpaid_orders=row[0])


EXPIRY_BATCH = 200


OnExpired = Callable[[int], Awaitable[bool]]


async def expire_unpaid_orders(now: dt.datetime | None = None, on_expired: OnExpired | None = None) -> list[int]:
    """Cancel every unpaid order whose reservation ended: its stock and promo
    use go back (once: the flags are cleared conditionally) and its history
    says why. Safe to run concurrently (rows locked SKIP LOCKED, conditions
    re-checked under the lock). Returns the ids cancelled.

    ``on_expired(order_id)`` runs inside the transaction that cancels each
    order (the layer above: checkout); True when it told the customer itself,
    else the usual status email goes. The beat task
    tasks.orders.expire_unpaid_orders runs it (through
    models/checkout/payment.py ``expire_unpaid``) every minute."""
    now = now or utcnow()
    expired: list[int] = []
    while True:
        async with transaction():
            rows = await fetch_all(
                "SELECT id FROM orders WHERE reserved_until <= %s AND status = 'PENDING' "
                "AND payment_status = 'PENDING' AND reserved_until IS NOT NULL "
                "ORDER BY reserved_until, id LIMIT %s FOR UPDATE SKIP LOCKED", [now, EXPIRY_BATCH])
            for (order_id,) in rows:
                minutes = settings.UNPAID_ORDER_TTL_MINUTES
                await _apply_status(order_id, "PENDING", "CANCELLED", reason="expire",
                                    description=f"Cancelled: not paid within {minutes} minute"
                                                f"{'' if minutes == 1 else 's'}; its items were released",
                                    notify=False)
                if on_expired is None or not await on_expired(order_id):
                    await enqueue("tasks.orders.order_status_changed", order_id, "CANCELLED")
                expired.append(order_id)
        if len(rows) < EXPIRY_BATCH:
            break
    if expired:
        log.info("expired %d unpaid orders", len(expired))
    return expired


# --- who is ordering ------------------------------------------------------------------

async def customer_of_user(user: Any) -> tuple[int | None, str, str]:
    """``(customer_id, name, email)`` of a registered user."""
    row = await fetch_one("SELECT id, name, email FROM customer WHERE user_id = %s", [user.id])
    if row is None:
        return None, user.full_name or "", user.email
    return row[0], row[1] or user.full_name or "", row[2] or user.email


async def default_shipping(user_id: int) -> dict[str, str]:
    """The user's default address as order shipping fields ({} if none)."""
    row = await fetch_one("SELECT street_address, city, state, country, zip_code FROM address "
                          "WHERE user_id = %s ORDER BY is_default DESC, id LIMIT 1", [user_id])
    if row is None:
        return {}
    street, city, state, country, zip_code = row
    return {"shipping_address": street, "shipping_city": city, "shipping_state": state,
            "shipping_country": country, "shipping_zip": zip_code}


def _shipping_fields(data: dict[str, Any]) -> dict[str, str]:
    keys = ("shipping_address", "shipping_city", "shipping_state", "shipping_country", "shipping_zip",
            "billing_address")
    return {k: (data.get(k) or "") for k in keys}


async def place_customer_order(user: Any, lines: list[LineIn] | None, data: dict[str, Any]) -> tuple[int, str, Decimal]:
    """A shopper's order from ``lines`` at database prices, or from their cart
    when ``lines`` is None. Status PENDING, payment PENDING; stock is taken.
    Bulky goods to a zone that schedules deliveries book ``data["delivery_date"]``
    as checkout does (``_direct_delivery``; freed on cancel and expiry).
    Raises ValidationFailed (``delivery_date`` named: missing, outside the
    window, full, or given for an order that takes none), SlotUnavailable
    (409: the day filled up meanwhile), OutOfStock, AppError("Cart is empty")."""
    if lines is None:
        return await place_order_from_cart(user, data)
    priced = await price_lines(lines, admin=False)
    customer_id, name, email = await customer_of_user(user)
    shipping = _shipping_fields(data)
    if not shipping["shipping_address"]:
        shipping.update(await default_shipping(user.id))
    totals = Totals(sum((l.total for l in priced), Decimal("0")))
    totals.check_bounds()
    delivery = await _direct_delivery(shipping, None, await _lines_parcel(priced), data.get("delivery_date"))
    draft = OrderDraft(user_id=user.id, customer_id=customer_id, customer_name=name, customer_email=email,
                       lines=priced, totals=totals, payment_type=data.get("payment_type") or "CREDIT",
                       order_type=data.get("order_type") or "STANDARD",
                       payment_method=data.get("payment_method") or "", shipping=shipping,
                       note=data.get("note") or "", **delivery)
    order_id, number = await create_order(draft)
    return order_id, number, totals.total


async def _lines_parcel(lines: list[PricedLine]) -> Any:
    """What a direct order's lines send, as far as delivery dates go: whether
    any product is bulky (one query). Their ship dates are known once the
    stock is taken (``create_order`` re-checks the date's window then)."""
    from models.shipping import Parcel

    row = await fetch_one("SELECT coalesce(bool_or(is_bulky), FALSE) FROM product WHERE id = ANY(%s)",
                          [sorted({l.product_id for l in lines})])
    return Parcel(goods=sum((l.total for l in lines), Decimal("0")), bulky=bool(row and row[0]))


async def _direct_delivery(shipping: dict[str, str], method_id: int | None, parcel: Any,
                           day: dt.date | None) -> dict[str, Any]:
    """The delivery date of a direct order (``models.shipping.plan_delivery``,
    the checkout's rule: bulky goods to a zone that schedules deliveries need
    one, other orders take none), as OrderDraft fields. Raises ValidationFailed
    naming ``delivery_date``."""
    from models.shipping import Destination, get_shipping_method, plan_delivery

    method = await get_shipping_method(method_id) if method_id is not None else None
    zone_id, day = await plan_delivery(method, Destination.from_shipping(shipping), parcel, day)
    return {"delivery_date": day, "delivery_zone_id": zone_id} if zone_id is not None else {}


async def place_order_from_cart(user: Any, data: dict[str, Any]) -> tuple[int, str, Decimal]:
    """The cart's lines at the cart's prices (promo, shipping, tax), stock
    taken, promo redeemed and cart emptied in one transaction."""
    try:
        from models import cart  # the cart issue's module
    except ImportError:
        raise AppError(CART_EMPTY, {"items": [CART_EMPTY]}) from None
    from models.shipping import Destination

    shipping = _shipping_fields(data)
    if not shipping["shipping_address"]:
        shipping.update(await default_shipping(user.id))
    quote = await cart.price_cart(user.id, shipping_method_id=data.get("shipping_method_id"),
                                  promo_code=data.get("promo_code") or None,
                                  destination=Destination.from_shipping(shipping))
    if not quote.lines:
        raise AppError(CART_EMPTY, {"items": [CART_EMPTY]})
    customer_id, name, email = await customer_of_user(user)
    priced = [PricedLine(l.product_id, l.variation_id, l.name, l.sku or "", l.quantity, money(l.unit_price), {})
              for l in quote.lines]
    totals = Totals(quote.subtotal, quote.discount, quote.shipping, quote.tax)
    delivery = await _direct_delivery(shipping, quote.shipping_method_id, quote.parcel, data.get("delivery_date"))
    draft = OrderDraft(user_id=user.id, customer_id=customer_id, customer_name=name, customer_email=email,
                       lines=priced, totals=totals, payment_type=data.get("payment_type") or "CREDIT",
                       order_type=data.get("order_type") or "STANDARD",
                       payment_method=data.get("payment_method") or "", shipping=shipping,
                       note=data.get("note") or "", shipping_method_id=quote.shipping_method_id,
                       promo_code_id=quote.promo_code_id, promo_held=bool(quote.promo_code_id),
                       discount_lines=quote.discount_lines, **delivery)
    async with transaction():
        order_id, number = await create_order(draft)
        if quote.promo_code_id:
            await cart.redeem_promo_code(quote.promo_code_id, order_id=order_id)
        await cart.clear_cart(user.id)
        hook = getattr(cart, "mark_cart_converted", None)
        if hook is not None:
            await hook(user.id, order_id)
    return order_id, number, totals.total


async def place_admin_order(admin: Any, lines: list[LineIn], data: dict[str, Any]) -> int:
    """The dashboard's "Create New Order": any customer (default: the admin's
    own), the admin's item prices, status, date and time. Stock is taken
    unless the order is recorded as cancelled or returned; a delivery date
    as for a shopper's direct order (``_direct_delivery``)."""
    customer_id = data.get("customer_id")
    if customer_id is not None:
        row = await fetch_one("SELECT id, user_id, name, email FROM customer WHERE id = %s", [customer_id])
        if row is None:
            raise ValidationFailed(errors={"customer_id": [_missing(customer_id)]})
        customer_id, user_id, name, email = row
    else:
        customer_id, name, email = await customer_of_user(admin)
        user_id = admin.id
    priced = await price_lines(lines, admin=True)
    created = None
    if data.get("order_date") or data.get("order_time"):
        now = utcnow()
        created = dt.datetime.combine(data.get("order_date") or now.date(), data.get("order_time") or now.time())
    refuse_manual_refund("status", data.get("status"))
    refuse_manual_refund("payment_status", data.get("payment_status"))
    totals = Totals(sum((l.total for l in priced), Decimal("0")))
    status = data.get("status") or "PENDING"
    delivery: dict[str, Any] = {}
    if status in NO_STOCK_STATUSES:
        if data.get("delivery_date") is not None:
            raise ValidationFailed(errors={"delivery_date": [f"An order recorded as {status} books no delivery date."]})
    else:
        shipping = _shipping_fields(data)
        delivery = await _direct_delivery(shipping, None, await _lines_parcel(priced), data.get("delivery_date"))
    draft = OrderDraft(user_id=user_id, customer_id=customer_id, customer_name=name, customer_email=email,
                       lines=priced, totals=totals, status=status,
                       payment_status=data.get("payment_status") or "PENDING",
                       payment_type=data.get("payment_type") or "CREDIT",
                       order_type=data.get("order_type") or "STANDARD",
                       payment_method=data.get("payment_method") or "", shipping=_shipping_fields(data),
                       note=data.get("note") or "", created_at=created, expires=False, **delivery)
    order_id, _number = await create_order(draft, reason="admin_order")
    return order_id


# --- status changes -----------------------------------------------------------------------

def check_transition(current: str, new: str) -> None:
    if new != current and new not in TRANSITIONS[current]:
        allowed = ", ".join(TRANSITIONS[current]) or "none"
        raise InvalidTransition(f"Cannot change order status from {current} to {new}.",
                                {"status": [f"Cannot change from {current} to {new}. Allowed: {allowed}."]})


def check_payment_transition(current: str, new: str) -> None:
    if new != current and new not in PAYMENT_TRANSITIONS[current]:
        raise InvalidTransition(f"Cannot change payment status from {current} to {new}.",
                                {"payment_status": [f"Cannot change from {current} to {new}."]})


def refuse_manual_refund(field: str, value: str | None) -> None:
    """A refund status typed in by staff would refund nothing (and then block
    the real refund): 400 naming the refund endpoint."""
    if value in (REFUND_STATUSES if field == "status" else REFUND_PAYMENT_STATUSES):
        text = f"{field} {value} is set by a refund: use {REFUND_ENDPOINT}."
        raise InvalidTransition(text, {field: [text]})


async def _lock_order(order_id: int) -> tuple:
    row = await fetch_one("SELECT id, status, payment_status, stock_held, user_id FROM orders WHERE id = %s FOR UPDATE",
                          [order_id])
    if row is None:
        raise NotFound("Order not found")
    return row


async def release_stock(order_id: int, reason: str) -> list[int]:
    """Give the order's stock back if it still holds it — exactly once, however
    many cancellations or refunds race (the flag is cleared conditionally) —
    and its booked delivery date (``release_delivery``, once too)."""
    await release_delivery(order_id)
    row = await fetch_one("UPDATE orders SET stock_held = FALSE WHERE id = %s AND stock_held RETURNING id", [order_id])
    if row is None:
        return []
    # Back-in-stock notices follow from the stock update itself (triggers on
    # product/variation stock going from 0 to more, migrations 0006 and 0013:
    # none for stock an unpaid order of the last hour gives back).
    return await stock.give_back_stock(await stock.order_lines(order_id), order_id, reason)


async def hold_promo(order_id: int) -> None:
    """The order's promo code use was redeemed after the order was placed (a
    checkout redeems it with the payment): a cancellation or expiry gives it back."""
    await db.aio_execute_sql("UPDATE orders SET promo_held = (promo_code_id IS NOT NULL) WHERE id = %s",
                             [order_id])


async def release_promo(order_id: int) -> None:
    """Give back the promo code use the order took, once (flag cleared
    conditionally, like stock_held)."""
    row = await fetch_one("UPDATE orders SET promo_held = FALSE WHERE id = %s AND promo_held "
                          "RETURNING promo_code_id", [order_id])
    if row is not None and row[0] is not None:
        await db.aio_execute_sql("UPDATE promo_code SET times_used = times_used - 1 "
                                 "WHERE id = %s AND times_used > 0", [row[0]])
        # Its per-customer use too (migration 0025; models/cart/promo.py redeem_promo_code).
        await db.aio_execute_sql("DELETE FROM promo_redemption WHERE order_id = %s", [order_id])


async def _apply_status(order_id: int, current: str, new: str, *, location: str = "", description: str = "",
                        reason: str = "cancel", shipment_id: int | None = None, notify: bool = True,
                        undo_shipment: bool = False) -> None:
    """Inside a transaction with the order locked. ``reason``: of the stock
    given back when cancelling (a stock_movement reason). ``shipment_id``:
    the shipment whose progress moved the order (its tracking event names
    it); ``notify=False`` when the caller sends its own email (a shipment's).
    ``undo_shipment``: a cancelled shipment moves the order back
    (SHIPMENT_UNDO: SHIPPED → PARTIALLY_SHIPPED/PROCESSING, ...)."""
    if not (undo_shipment and new in SHIPMENT_UNDO.get(current, ())):
        check_transition(current, new)
    if new == current:
        return
    await db.aio_execute_sql("UPDATE orders SET status = %s, updated_at = %s WHERE id = %s", [new, utcnow(), order_id])
    if new == "CANCELLED":
        await release_stock(order_id, reason)
        await release_promo(order_id)
    await db.aio_execute_sql(
        "INSERT INTO order_tracking (order_id, status, location, description, timestamp, shipment_id) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        [order_id, new, location, description or f"Order {new.lower().replace('_', ' ')}", utcnow(), shipment_id])
    if notify:
        await enqueue("tasks.orders.order_status_changed", order_id, new)


async def move_status(order_id: int, new: str, **kwargs: Any) -> str:
    """Move a locked order (inside the caller's transaction) to ``new``
    through the transition table (InvalidTransition otherwise); keyword
    arguments as ``_apply_status``. Returns the status it had."""
    row = await fetch_one("SELECT status FROM orders WHERE id = %s", [order_id])
    if row is None:
        raise NotFound("Order not found")
    await _apply_status(order_id, row[0], new, **kwargs)
    return row[0]


async def update_status(order_id: int, new: str) -> dict[str, Any]:
    """Staff move an order to ``new`` if the transition is legal
    (InvalidTransition otherwise; REFUNDED only through the refund action);
    cancelling gives its stock and promo use back once."""
    refuse_manual_refund("status", new)
    async with transaction():
        _id, current, *_ = await _lock_order(order_id)
        await _apply_status(order_id, current, new)
    row = await fetch_one("SELECT id, status, updated_at FROM orders WHERE id = %s", [order_id])
    return {"id": row[0], "status": row[1], "updated_at": row[2]}


NOT_CANCELLABLE = "Only an unpaid order that has not been processed can be cancelled."


async def cancel_order(order_id: int, user_id: int | None = None) -> dict[str, Any]:
    """A shopper cancels their own unpaid order (status PENDING, payment not
    made): its stock and promo use go back once. NotFound for others' orders,
    InvalidTransition (400) for an order that is paid or already moving."""
    async with transaction():
        _id, current, payment_status, _held, owner = await _lock_order(order_id)
        if user_id is not None and owner != user_id:
            raise NotFound("Order not found")
        if current != "PENDING" or payment_status not in ("PENDING", "FAILED"):
            raise InvalidTransition(NOT_CANCELLABLE, {"status": [NOT_CANCELLABLE]})
        await _apply_status(order_id, current, "CANCELLED", description="Cancelled by the customer")
    row = await fetch_one("SELECT id, status, updated_at FROM orders WHERE id = %s", [order_id])
    return {"id": row[0], "status": row[1], "updated_at": row[2]}


EDITABLE = ("note", "shipping_address", "shipping_city", "shipping_state", "shipping_country", "shipping_zip",
            "billing_address", "payment_type", "order_type", "payment_method")


async def update_order(order_id: int, changes: dict[str, Any]) -> None:
    """Admin edit: the editable fields, plus status / payment_status through
    their legal transitions. Staff may record a manual payment (PENDING or
    FAILED → PAID, e.g. cash received); refund statuses come only from the
    refund action (400 naming it); ``delivery_date`` moves a scheduled
    delivery (``_set_delivery_date``: how a flagged ``delivery_issue`` is
    resolved). One transaction."""
    refuse_manual_refund("payment_status", changes.get("payment_status"))
    refuse_manual_refund("status", changes.get("status"))
    async with transaction():
        _id, current, payment_status, _held, _owner = await _lock_order(order_id)
        fields = {k: v for k, v in changes.items() if k in EDITABLE and v is not None}
        new_payment = changes.get("payment_status")
        if new_payment:
            check_payment_transition(payment_status, new_payment)
            fields["payment_status"] = new_payment
            if new_payment != payment_status:
                # The payment record follows (e.g. cash received for a manual order).
                await db.aio_execute_sql(
                    "UPDATE payment SET status = %s, updated_at = %s WHERE id = (SELECT id FROM payment "
                    "WHERE order_id = %s AND status = %s ORDER BY id DESC LIMIT 1)",
                    [new_payment, utcnow(), order_id, payment_status])
        if fields:
            cols = ", ".join(f"{k} = %s" for k in fields)
            await db.aio_execute_sql(f"UPDATE orders SET {cols}, updated_at = %s WHERE id = %s",
                                     [*fields.values(), utcnow(), order_id])
        if changes.get("delivery_date") is not None:
            await _set_delivery_date(order_id, current, changes["delivery_date"])
        if changes.get("status"):
            await _apply_status(order_id, current, changes["status"])


async def _set_delivery_date(order_id: int, status: str, day: dt.date) -> None:
    """Staff move an order's delivery to ``day`` (locked order, caller's
    transaction): the day is booked in the order's zone (never overbooked:
    SlotUnavailable, 409, when it is full; staff may raise its capacity
    first), the day it held is given back, ``delivery_issue`` is cleared.
    An order whose zone was deleted records the date with nothing to book.
    Raises ValidationFailed naming ``delivery_date`` for an order that does
    not hold its goods (cancelled, returned), has no delivery date to move,
    or a day not after today."""
    from models.shipping import book_slot

    row = await fetch_one("SELECT delivery_zone_id, delivery_date, slot_held, stock_held FROM orders WHERE id = %s",
                          [order_id])
    zone_id, old_day, held, stock_held = row
    problem = None
    if status in NO_STOCK_STATUSES or not stock_held:
        problem = f"A {status.lower()} order books no delivery date."
    elif old_day is None:
        problem = "This order has no scheduled delivery (bulky goods to a zone with delivery slots) to move."
    elif day <= utcnow().date():
        problem = "Pick a day after today."
    if problem:
        raise ValidationFailed(errors={"delivery_date": [problem]})
    if day == old_day and held:
        await db.aio_execute_sql("UPDATE orders SET delivery_issue = NULL WHERE id = %s", [order_id])
        return
    await release_delivery(order_id)
    if zone_id is not None:
        await book_slot(zone_id, day)
    await db.aio_execute_sql(
        "UPDATE orders SET delivery_date = %s, slot_held = %s, delivery_issue = NULL, estimated_delivery_date = %s, "
        "updated_at = %s WHERE id = %s", [day, zone_id is not None, day, utcnow(), order_id])


async def delete_order(order_id: int) -> None:
    """Delete an order; stock it still holds goes back first."""
    async with transaction():
        await _lock_order(order_id)
        await release_stock(order_id, "delete")
        await db.aio_execute_sql("DELETE FROM orders WHERE id = %s", [order_id])


async def add_tracking_event(order_id: int, status: str, location: str, description: str, *,
                             shipment_id: int | None = None) -> dict[str, Any]:
    """Record a tracking event (the order's status is changed with update_status),
    about one of the order's shipments when ``shipment_id`` is given
    (ValidationFailed when it is not the order's)."""
    async with transaction():
        await _lock_order(order_id)
        shipment = None
        if shipment_id is not None:
            shipment = await fetch_one("SELECT carrier, tracking_number, tracking_url FROM shipment "
                                       "WHERE id = %s AND order_id = %s", [shipment_id, order_id])
            if shipment is None:
                raise ValidationFailed(errors={"shipment_id": [f'Invalid pk "{shipment_id}" - not a shipment '
                                                               "of this order."]})
        row = await fetch_one(
            "INSERT INTO order_tracking (order_id, status, location, description, timestamp, shipment_id) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, timestamp",
            [order_id, status, location, description, utcnow(), shipment_id])
        await enqueue("tasks.orders.tracking_event_added", row[0])
    carrier, number, url = shipment or (None, None, None)
    return {"id": row[0], "status": status, "location": location, "description": description, "timestamp": row[1],
            "shipment_id": shipment_id, "carrier": carrier, "tracking_number": number or None, "tracking_url": url}


async def bulk_action(order_ids: Iterable[int], action: str, status: str | None) -> dict[str, Any]:
    """``delete`` or ``update_status`` for many orders in one transaction.
    Orders whose status cannot legally move to ``status`` are skipped and listed."""
    if action == "update_status":
        refuse_manual_refund("status", status)
    ids = sorted(set(order_ids))
    processed, skipped = 0, []
    async with transaction():
        rows = await fetch_all("SELECT id, status FROM orders WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids])
        for order_id, current in rows:
            if action == "delete":
                await release_stock(order_id, "delete")
                await db.aio_execute_sql("DELETE FROM orders WHERE id = %s", [order_id])
                processed += 1
                continue
            if status != current and status not in TRANSITIONS[current]:
                skipped.append(order_id)
                continue
            await _apply_status(order_id, current, status)
            processed += 1
    return {"status": "success", "processed": processed, "skipped": skipped}


def valid_status(value: str) -> bool:
    return value in STATUSES
