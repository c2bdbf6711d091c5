"""Cart use cases: add, change and remove lines, promo codes, clearing, and
pricing the cart for checkout (``price_cart``).

Lines are addressed by ``product_id`` plus an optional ``variation_id``, or
by ``item_id`` (the line's id). Adding meets existing lines in one
``INSERT ... ON CONFLICT DO UPDATE`` on the unique index
``cart_item_line``, whose ``WHERE`` re-checks the stock against the row as
it is after any concurrent add: concurrent adds add up exactly, and never
beyond the stock. The product's checks ride in the same statement.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from models.cart import promo as promos
from models.cart.queries import CartLine, CartState, load_cart, tax_on
from models.catalog.queries import MAIN_IMAGE_SQL
from models.catalog.stock_policy import terms_sql
from models.catalog.tables import MAX_LINE_QUANTITY
from models.core.db import fetch_all, fetch_one, fetch_prepared, money, transaction
from models.core.errors import NotFound, ValidationFailed

MAX_ID = 2**31 - 1
MAX_QUANTITY = MAX_LINE_QUANTITY
CHOOSE_VARIATION = "This product has variations: choose one (variation_id)."
EMPTY = "Cart is empty"
ITEM_NOT_FOUND = "Item not found in cart"
OUT_OF_STOCK = "Product is out of stock"
NOW = "(now() at time zone 'utc')"


class OutOfStock(ValidationFailed):
    """400: the product or variation cannot be had in the quantity asked."""


def only_left(stock: int, in_cart: int = 0) -> OutOfStock:
    if stock <= 0:
        return OutOfStock(OUT_OF_STOCK, errors={"quantity": [OUT_OF_STOCK]})
    detail = f"Only {stock} left" + (f"; your cart already holds {in_cart}." if in_cart else ".")
    return OutOfStock(f"Only {stock} left", errors={"quantity": [detail]})


def _valid_id(value: int | None) -> bool:
    return value is not None and 0 < value <= MAX_ID


# --- adding ------------------------------------------------------------------------

# What a line may hold: the units the stock policy in force (the variation's
# own terms, else the product's: models/catalog/stock_policy.py
# effective_terms) can sell now (sellable_stock); SQL twin line_sellable_stock (0027).
SELLABLE_SQL = "line_sellable_stock(p, v)"
# What the line shows of the policy (Sellable.policy): policy, shelf, owed, limit, restock date, lead time.
POLICY_SQL = (f"{terms_sql('policy')}, COALESCE(v.stock_quantity, p.stock_quantity), "
              f"COALESCE(v.backordered, p.backordered), {terms_sql('backorder_limit')}, "
              f"{terms_sql('restock_date')}, {terms_sql('lead_time_days')}")

_PRODUCT_SQL = f"""SELECT p.id, p.name, p.status, COALESCE(v.sku, p.sku), v.id, v.variation_type, v.variation,
    line_unit_price(p.price, v.price_adjustment), {SELLABLE_SQL},
    {MAIN_IMAGE_SQL}, {POLICY_SQL}
FROM product p LEFT JOIN product_variation v ON v.id = %(variation_id)s AND v.product_id = p.id
WHERE p.id = %(product_id)s"""

# Adding, in ONE statement (so no transaction): the product as the cart sells
# it now (``p``; ``ok`` when it is published, the variation is its own and the
# stock covers the quantity), then only when ok: the user's cart (created on
# first use; an existing one is not written) and the line, inserted or grown
# while the stock allows it (the WHERE is evaluated on the row as it is once
# locked, i.e. after any concurrent add). Always one row back when the product
# exists: what the reply or the error needs, and the line (NULL when nothing
# was written: not ok, or the line would outgrow the stock).
_ADD_SQL = f"""WITH p AS (
    SELECT p.id, p.name, p.status, COALESCE(v.sku, p.sku) AS sku, v.id AS variation_id, v.variation_type,
        v.variation, line_unit_price(p.price, v.price_adjustment) AS unit_price,
        {SELLABLE_SQL} AS stock, {MAIN_IMAGE_SQL} AS image,
        {terms_sql('policy')} AS policy, COALESCE(v.stock_quantity, p.stock_quantity) AS shelf,
        COALESCE(v.backordered, p.backordered) AS backordered, {terms_sql('backorder_limit')} AS backorder_limit,
        {terms_sql('restock_date')} AS restock_date, {terms_sql('lead_time_days')} AS lead_time_days,
        %(variation_id)s::integer IS NULL
            AND EXISTS (SELECT 1 FROM product_variation pv WHERE pv.product_id = p.id) AS needs_variation,
        p.status = 'published' AND (%(variation_id)s::integer IS NULL OR v.id IS NOT NULL)
            AND {SELLABLE_SQL} >= %(quantity)s AS ok
    FROM product p LEFT JOIN product_variation v ON v.id = %(variation_id)s AND v.product_id = p.id
    WHERE p.id = %(product_id)s),
found AS (SELECT id FROM cart WHERE user_id = %(user_id)s),
created AS (INSERT INTO cart (user_id, created_at, updated_at)
    SELECT %(user_id)s, {NOW}, {NOW} WHERE NOT EXISTS (SELECT 1 FROM found) AND (SELECT ok AND NOT needs_variation FROM p)
    ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id RETURNING id),
c AS (SELECT id FROM found UNION ALL SELECT id FROM created),
line AS (INSERT INTO cart_item (cart_id, product_id, variation_id, quantity, created_at, updated_at)
    SELECT c.id, p.id, p.variation_id, %(quantity)s, {NOW}, {NOW} FROM c, p WHERE p.ok AND NOT p.needs_variation
    ON CONFLICT (cart_id, product_id, (COALESCE(variation_id, 0))) DO UPDATE
        SET quantity = cart_item.quantity + EXCLUDED.quantity, updated_at = EXCLUDED.updated_at
        WHERE cart_item.quantity + EXCLUDED.quantity <= (SELECT stock FROM p)
    RETURNING id, quantity)
SELECT p.id, p.name, p.status, p.sku, p.variation_id, p.variation_type, p.variation, p.unit_price, p.stock,
    p.image, line.id, line.quantity, p.needs_variation, p.policy, p.shelf, p.backordered, p.backorder_limit,
    p.restock_date, p.lead_time_days
FROM p LEFT JOIN line ON TRUE"""


@dataclass
class Sellable:
    """A product (or one of its variations) as the cart sells it now."""

    product_id: int
    name: str
    status: str
    sku: str
    variation_id: int | None
    variation_type: str | None
    variation_name: str | None
    unit_price: Decimal
    stock: int  # what can be ordered (sellable_stock)
    image: str | None
    policy: tuple = ("deny", 0, 0, 0, None, 0)  # POLICY_SQL's columns

    def line(self, item_id: int, quantity: int) -> CartLine:
        policy, shelf, backordered, limit, restock_date, lead_time_days = self.policy
        return CartLine(item_id, self.product_id, self.variation_id, self.name, self.sku, self.variation_type,
                        self.variation_name, quantity, self.unit_price, money(self.unit_price * quantity),
                        self.status, shelf, self.image, stock_policy=policy, backordered=backordered,
                        backorder_limit=limit, restock_date=restock_date, lead_time_days=lead_time_days)


async def load_sellable(product_id: int, variation_id: int | None) -> Sellable:
    """What may go into a cart (one query).

    Raises NotFound("Product not found") for an unknown or withdrawn (draft,
    archived) product, ValidationFailed for a variation of another product.
    """
    if not _valid_id(product_id) or (variation_id is not None and not _valid_id(variation_id)):
        raise NotFound("Product not found")
    rows = await fetch_prepared(_PRODUCT_SQL, {"product_id": product_id, "variation_id": variation_id})
    return _sellable(rows[0] if rows else None, variation_id)


def _sellable(row: tuple | None, variation_id: int | None) -> Sellable:
    """The product row of ``_PRODUCT_SQL`` (or ``_ADD_SQL``) as sold now; NotFound
    when there is none or it is withdrawn, ValidationFailed for another product's variation."""
    if row is None or row[2] != "published":
        raise NotFound("Product not found")
    if variation_id is not None and row[4] is None:
        raise ValidationFailed("Invalid variation for this product",
                               errors={"variation_id": ["This variation does not belong to the product."]})
    policy = tuple(row[13:19]) if len(row) >= 19 else tuple(row[10:16])  # _ADD_SQL's or _PRODUCT_SQL's
    return Sellable(row[0], row[1], row[2], row[3], row[4], row[5], row[6], money(row[7]), row[8], row[9], policy)


async def add_item(user_id: int, product_id: int, quantity: int = 1, variation_id: int | None = None) -> CartLine:
    """Add ``quantity`` of a product (or one of its variations) to the user's
    cart, creating the cart on first use; an existing line grows.

    One statement (``_ADD_SQL``: the checks, the cart and the line). Raises
    NotFound (unknown or unpublished product), ValidationFailed (bad
    variation, quantity < 1), OutOfStock ("Product is out of stock",
    "Only N left") — and then nothing has changed.
    """
    if quantity < 1 or quantity > MAX_QUANTITY:
        raise ValidationFailed(errors={"quantity": ["Ensure this value is greater than or equal to 1."]
                                       if quantity < 1 else [f"Ensure this value is less than or equal to {MAX_QUANTITY}."]})
    if not _valid_id(product_id) or (variation_id is not None and not _valid_id(variation_id)):
        raise NotFound("Product not found")
    rows = await fetch_prepared(_ADD_SQL, {"user_id": user_id, "product_id": product_id,
                                           "variation_id": variation_id, "quantity": quantity})
    row = rows[0] if rows else None
    item = _sellable(row, variation_id)
    if row[12]:  # nothing was written
        raise ValidationFailed(CHOOSE_VARIATION, errors={"variation_id": [CHOOSE_VARIATION]})
    if item.stock < quantity:
        raise only_left(item.stock)
    if row[10] is None:  # the line exists and would outgrow the stock; nothing was written
        in_cart = await fetch_one(
            "SELECT ci.quantity FROM cart_item ci JOIN cart c ON c.id = ci.cart_id WHERE c.user_id = %s "
            "AND ci.product_id = %s AND COALESCE(ci.variation_id, 0) = %s", (user_id, product_id, variation_id or 0))
        raise only_left(item.stock, in_cart[0] if in_cart else 0)
    return item.line(row[10], row[11])


# --- finding, changing and removing lines ---------------------------------------------

_LINES_SQL = f"""SELECT ci.id, ci.product_id, ci.variation_id, ci.quantity, p.status,
    {SELLABLE_SQL}
FROM cart c JOIN cart_item ci ON ci.cart_id = c.id JOIN product p ON p.id = ci.product_id
LEFT JOIN product_variation v ON v.id = ci.variation_id
WHERE c.user_id = %(user_id)s AND (ci.id = %(item_id)s OR ci.product_id = %(product_id)s)"""


@dataclass
class LineRef:
    item_id: int
    product_id: int
    variation_id: int | None
    quantity: int
    status: str
    stock: int


async def find_line(user_id: int, item_id: int | None = None, product_id: int | None = None,
                    variation_id: int | None = None) -> LineRef:
    """The user's cart line named by ``item_id``, or by ``product_id`` and
    ``variation_id``. A product alone names its line without a variation, or
    its only line. One query.

    Raises NotFound("Item not found in cart") — also for another user's line —
    and ValidationFailed when a product has several lines and no variation was named.
    """
    if item_id is None and product_id is None:
        raise ValidationFailed(errors={"product_id": ["This field is required."]})
    if not (_valid_id(item_id) or _valid_id(product_id)):
        raise NotFound(ITEM_NOT_FOUND)
    rows = await fetch_all(_LINES_SQL, {"user_id": user_id, "item_id": item_id if _valid_id(item_id) else 0,
                                        "product_id": product_id if _valid_id(product_id) else 0})
    lines = [LineRef(*r) for r in rows]
    if item_id is not None:
        lines = [x for x in lines if x.item_id == item_id]
    else:
        lines = [x for x in lines if x.product_id == product_id]
        if variation_id is not None:
            lines = [x for x in lines if x.variation_id == variation_id]
        elif len(lines) > 1:
            plain = [x for x in lines if x.variation_id is None]
            if not plain:
                raise ValidationFailed(
                    "This product has several lines in the cart: name the variation_id or item_id",
                    errors={"variation_id": ["This field is required for this product."]})
            lines = plain
    if not lines:
        raise NotFound(ITEM_NOT_FOUND)
    return lines[0]


async def update_quantity(user_id: int, quantity: int, *, item_id: int | None = None,
                          product_id: int | None = None, variation_id: int | None = None) -> CartLine:
    """Set a line's quantity (1 or more; within the stock). Raises NotFound,
    ValidationFailed, OutOfStock ("Only N left")."""
    if quantity < 1 or quantity > MAX_QUANTITY:
        raise ValidationFailed(errors={"quantity": ["Ensure this value is greater than or equal to 1."]
                                       if quantity < 1 else [f"Ensure this value is less than or equal to {MAX_QUANTITY}."]})
    ref = await find_line(user_id, item_id, product_id, variation_id)
    item = await load_sellable(ref.product_id, ref.variation_id)
    if quantity > item.stock and quantity > ref.quantity:  # lowering an over-full line is always allowed
        raise only_left(item.stock)
    await fetch_all(f"UPDATE cart_item SET quantity = %s, updated_at = {NOW} WHERE id = %s RETURNING id",
                    (quantity, ref.item_id))
    return item.line(ref.item_id, quantity)


async def remove_item(user_id: int, *, item_id: int | None = None, product_id: int | None = None,
                      variation_id: int | None = None) -> None:
    """Remove a line. Raises NotFound("Item not found in cart"), ValidationFailed."""
    ref = await find_line(user_id, item_id, product_id, variation_id)
    async with transaction():
        await fetch_all("DELETE FROM cart_item WHERE id = %s RETURNING id", (ref.item_id,))
        await fetch_all(f"UPDATE cart SET updated_at = {NOW} WHERE user_id = %s RETURNING id", (user_id,))


async def clear_cart(user_id: int) -> None:
    """Empty the user's cart: every line and the applied promo code.

    Usable inside the caller's transaction (orders call it when an order is
    placed, after taking stock); a user without a cart is fine.
    """
    await fetch_all("DELETE FROM cart_item WHERE cart_id IN (SELECT id FROM cart WHERE user_id = %s) RETURNING id",
                    (user_id,))
    await fetch_all(f"UPDATE cart SET promo_code_id = NULL, updated_at = {NOW} WHERE user_id = %s RETURNING id",
                    (user_id,))


# --- promo codes -------------------------------------------------------------------

async def apply_promo_code(user_id: int, code: str) -> dict[str, Any]:
    """Apply ``code`` to the user's cart (replacing any other).

    Raises ValidationFailed("Cart is empty"), ValidationFailed("Invalid promo
    code") for an unknown or inactive code, PromoCodeRejected with the reason
    (not yet valid, expired, usage limit reached, below the minimum order).
    """
    cart = await load_cart(user_id)
    if not cart.lines:
        raise ValidationFailed(EMPTY)
    promo = await promos.find_code(code)
    promos.check_applies(promo, cart.subtotal)
    candidates = cart.candidates if cart.promo is not None and cart.promo.id == promo.id else \
        await promos.candidates(user_id, promo.id)
    best = promos.best_discount(candidates, cart.priced_items(), cart.subtotal, Decimal(0), promo.id)
    if best.code_problem:
        raise promos.PromoCodeRejected(best.code_problem, errors={"code": [best.code_problem]})
    await fetch_all("UPDATE cart SET promo_code_id = %s WHERE id = %s RETURNING id", (promo.id, cart.cart_id))
    subtotal = cart.subtotal
    discount = best.discount
    applied = best.promotion is not None and best.promotion.id == promo.id
    message = "Discount applied successfully"
    if not applied and best.promotion is not None:
        message = (f"Code saved, but {best.promotion.label()} gives a bigger discount: "
                   "promotions do not combine, the best one applies")
    elif promo.discount_type == "free_shipping":
        message = "Free shipping applied: the shipping cost is removed at checkout"
    return {
        "success": True,
        "message": message,
        "code": promo.code,
        "discount_type": promo.discount_type,
        "discount_percentage": money(promo.discount_percentage) if promo.discount_percentage is not None else None,
        "discount_amount": discount,
        "total_before_discount": subtotal,
        "total_after_discount": money(subtotal - discount),
        "discount_lines": [line.payload() for line in best.lines],
    }


async def remove_promo_code(user_id: int) -> None:
    """Take the promo code off the user's cart (nothing to do without one)."""
    await fetch_all("UPDATE cart SET promo_code_id = NULL WHERE user_id = %s RETURNING id", (user_id,))


# --- pricing for checkout ------------------------------------------------------------

@dataclass
class QuoteLine:
    item_id: int
    product_id: int
    variation_id: int | None
    name: str
    sku: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal
    expected_ship_date: Any = None  # a date, or None (unknown)


@dataclass
class CartQuote:
    """What the cart costs now: ``total = subtotal - discount + shipping + tax``,
    each half-up to the cent; tax is ``TAX_RATE`` of the discounted subtotal."""

    lines: list[QuoteLine]
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal
    total: Decimal
    promo_code_id: int | None
    promo_code: str | None
    discount_percentage: Decimal | None
    shipping_method_id: int | None
    cart_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    parcel: Any = None  # models.shipping.Parcel: what the cart sends (weight, volume, goods, bulky, ship date)
    # The promotion applied (models/cart/promo.py best_discount): why the discount is what it is.
    discount_lines: list[dict[str, Any]] = field(default_factory=list)
    shipping_discount: Decimal = Decimal("0.00")


def cart_parcel(lines: list[CartLine], goods: Decimal) -> Any:
    """What the cart's lines weigh and measure (models.shipping.Parcel), its
    goods value and the latest expected ship date of its lines."""
    from models.shipping import Parcel

    dates = [line.ship_date() for line in lines]
    known = [d for d in dates if d is not None]
    return Parcel(weight=sum(((line.weight or 0) * line.quantity for line in lines), Decimal(0)),
                  volume=sum(((line.volume_cm3 or 0) * line.quantity for line in lines), Decimal(0)) / 1_000_000,
                  goods=money(goods), bulky=any(line.is_bulky for line in lines),
                  ships_on=max(known) if known else None)


async def price_cart(user_id: int, *, shipping_method_id: int | None = None,
                     promo_code: str | None = None, destination: Any = None) -> CartQuote:
    """Price the user's cart for checkout with today's prices.

    ``promo_code`` None uses the code applied to the cart (if any); a code
    given here is checked but not stored. The automatic promotions compete
    with the code: the best one applies (``promotions.best_discount``, after
    shipping is priced: a free-shipping promotion zeroes it); ``promo_code_id``
    is the promotion applied, ``discount_lines`` explain it.
    ``shipping_method_id`` None means no shipping cost; else the method's
    price for ``destination`` (a models.shipping.Destination, None: unknown)
    and the cart's parcel (``models.shipping.quote_shipping``: zones and
    rates; a zone's free-shipping threshold counts the goods less the best
    discount on goods). One to five queries (cart; shipping method, zones and
    rates; promo code).

    Raises ValidationFailed("Cart is empty"); NotFound("Product not found")-
    like ValidationFailed naming the line for a withdrawn product; OutOfStock
    when a line asks more than is left; ValidationFailed("Invalid promo
    code") or PromoCodeRejected (reason) for a code that does not apply;
    ValidationFailed("Invalid shipping method") for an unknown or inactive
    method or one that does not deliver to ``destination`` (or this cart).
    Usable inside the caller's transaction (it only reads).
    """
    from models.shipping import get_shipping_method, quote_shipping

    cart = await load_cart(user_id)
    if not cart.lines:
        raise ValidationFailed(EMPTY)
    for line in cart.lines:
        state = line.stock_status
        if state == "unavailable":
            raise ValidationFailed(f"{line.name} is no longer available",
                                   errors={"items": [f"{line.name} is no longer available."]})
        if state != "active":
            short = only_left(line.sellable)
            raise OutOfStock(f"{line.name}: {short.message}", errors={"items": [f"{line.name}: {short.message}."]})
    subtotal = cart.subtotal
    candidates = cart.candidates
    entered: Any = cart.promo
    if promo_code is not None:
        entered = await promos.find_code(promo_code)
        if cart.promo is None or entered.id != cart.promo.id:
            candidates = await promos.candidates(user_id, entered.id)
    code_id = entered.id if entered is not None else None
    items = cart.priced_items()
    # The goods' own discount first (no shipping yet: free-shipping offers are
    # worth nothing here), for the zone's free-shipping threshold; then, with
    # shipping priced, the best promotion of all (free shipping may win).
    goods_discount = promos.best_discount(candidates, items, subtotal, money(0), code_id).discount
    shipping = money(0)
    parcel = cart_parcel(cart.lines, subtotal - goods_discount)
    if shipping_method_id is not None:
        try:
            method = await get_shipping_method(shipping_method_id)
        except NotFound:
            raise ValidationFailed("Invalid shipping method",
                                   errors={"shipping_method_id": ["Invalid shipping method."]}) from None
        price = await quote_shipping(method, destination, parcel)
        if price is None:
            where = f" to {destination.country}" if destination is not None and destination.country else ""
            text = (f"{method.name} does not deliver this cart{where}: see POST /api/shipping/quote/ "
                    "for the methods that do." if destination is not None else
                    f"{method.name} is priced by destination: give a delivery address.")
            raise ValidationFailed("Invalid shipping method", errors={"shipping_method_id": [text]})
        shipping = money(price)
    best = promos.best_discount(candidates, items, subtotal, shipping, code_id)
    if entered is not None and best.code_problem:
        raise promos.PromoCodeRejected(best.code_problem, errors={"code": [best.code_problem]})
    winner = best.promotion
    discount = best.discount
    shipping = money(shipping - best.shipping_discount)
    tax = tax_on(subtotal - discount)
    lines = [QuoteLine(x.item_id, x.product_id, x.variation_id, x.name, x.sku, x.quantity, x.unit_price,
                       x.line_total, x.ship_date()) for x in cart.lines]
    pct = winner.discount_percentage if winner is not None and winner.discount_type == "percentage" else None
    return CartQuote(lines=lines, subtotal=subtotal, discount=discount, shipping=shipping, tax=tax,
                     total=money(subtotal - discount + shipping + tax),
                     promo_code_id=winner.id if winner is not None else None,
                     promo_code=winner.code if winner is not None else None,
                     discount_percentage=money(pct) if pct is not None else None,
                     shipping_method_id=shipping_method_id, cart_id=cart.cart_id, parcel=parcel,
                     discount_lines=[line.payload() for line in best.lines],
                     shipping_discount=best.shipping_discount)


__all__ = ["CartState", "CartQuote", "QuoteLine", "add_item", "apply_promo_code", "clear_cart", "find_line",
           "price_cart", "remove_item", "remove_promo_code", "update_quantity", "OutOfStock"]
