"""The cart's read side: the whole cart (lines with their current prices,
stock and image, and the applied promo code) in ONE query whatever it holds
(one row, the lines as JSON), and the arithmetic of its totals.

Prices always come from the catalog as it is now: a line's unit price is the
product's effective price (base price less its discount) plus the
variation's price adjustment, never below zero.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import orjson

import settings
from models.cart.promo import CANDIDATES_SQL, BestDiscount, PricedItem, best_discount, candidates_from_json
from models.catalog.queries import MAIN_IMAGE_SQL, iso_sql
from models.catalog.stock_policy import expected_ship_date, iso, sellable_stock, terms_sql
from models.core.db import RideAlong, money, utcnow

ZERO = Decimal("0.00")

UNIT_PRICE_SQL = "line_unit_price(p.price, v.price_adjustment)"  # models/catalog/tables.py line_unit_price

# ONE row per cart (none without a cart): the cart's fields, its applied
# promo code, the promotions it may get (the code and the automatic ones:
# models/cart/promo.py CANDIDATES_SQL), the totals and the lines, in line order, as JSON text (so the
# cart's and the promo code's fields, and the user's when the read rides
# along, are sent once, not once per line); money leaves as text.
_CART_SQL = f"""SELECT c.id, {iso_sql("c.created_at")}, {iso_sql("GREATEST(c.updated_at, l.updated_at)")},
    pc.id, pc.code, pc.discount_percentage, pc.valid_from, pc.valid_to, pc.min_order_amount, pc.usage_limit,
    pc.times_used, pc.is_active, COALESCE(l.subtotal, 0.00), COALESCE(l.items, 0), l.lines,
    {CANDIDATES_SQL.format(cart="c.promo_code_id", user="c.user_id")}, pc.discount_type, pc.name
FROM cart c
LEFT JOIN promo_code pc ON pc.id = c.promo_code_id
LEFT JOIN LATERAL (
    SELECT max(ci.updated_at) AS updated_at, sum({UNIT_PRICE_SQL} * ci.quantity) AS subtotal,
        sum(ci.quantity) AS items,
        json_agg(json_build_array(ci.id, ci.product_id, ci.variation_id, ci.quantity, p.name, COALESCE(v.sku, p.sku),
            v.variation_type, v.variation, ({UNIT_PRICE_SQL})::text, ({UNIT_PRICE_SQL} * ci.quantity)::text, p.status,
            COALESCE(v.stock_quantity, p.stock_quantity), {MAIN_IMAGE_SQL}, p.weight::text,
            (p.length * p.width * p.height)::text, p.is_bulky, {terms_sql("policy")},
            COALESCE(v.backordered, p.backordered), {terms_sql("backorder_limit")},
            {terms_sql("restock_date")}::text, {terms_sql("lead_time_days")}, p.category_id)
            ORDER BY ci.id)::text AS lines
    FROM cart_item ci JOIN product p ON p.id = ci.product_id LEFT JOIN product_variation v ON v.id = ci.variation_id
    WHERE ci.cart_id = c.id) l ON TRUE
WHERE c.user_id = %(user_id)s"""
# The same read riding along with the signed-in user's lookup (handlers' ``reads``): GET /cart/ in one statement.
CART_READ = RideAlong(_CART_SQL)


def stock_status(status: str, stock: int, quantity: int = 1) -> str:
    """``active`` (as the spec shows) when the line can be bought as it is,
    ``out_of_stock`` when nothing is left, ``insufficient_stock`` when less
    than the line's quantity is, ``unavailable`` when the product was
    withdrawn (draft or archived)."""
    if status != "published":
        return "unavailable"
    if stock <= 0:
        return "out_of_stock"
    if stock < quantity:
        return "insufficient_stock"
    return "active"


@dataclass
class CartLine:
    item_id: int
    product_id: int
    variation_id: int | None
    name: str
    sku: str
    variation_type: str | None
    variation_name: str | None
    quantity: int
    unit_price: Decimal  # base price less discount + variation adjustment
    line_total: Decimal
    status: str  # the product's status
    stock: int  # what is left of the product or variation
    image: str | None
    # Shipping measures and the stock policy in force (migrations/0023; a variation's own terms, else
    # the product's: stock_terms, 0027):
    weight: Decimal | None = None  # kg per unit
    volume_cm3: Decimal | None = None  # per unit
    is_bulky: bool = False
    stock_policy: str = "deny"
    backordered: int = 0
    backorder_limit: int = 0
    restock_date: dt.date | None = None
    lead_time_days: int = 0

    @property
    def sellable(self) -> int:
        """Units that can be ordered now (models/catalog/stock_policy.py)."""
        return sellable_stock(self.stock_policy, self.stock, self.backordered, self.backorder_limit)

    @property
    def stock_status(self) -> str:
        return stock_status(self.status, self.sellable, self.quantity)

    def ship_date(self, today: dt.date | None = None) -> dt.date | None:
        """When this line is expected to ship (None: unknown or not sellable)."""
        return expected_ship_date(self.stock_policy, self.quantity <= self.stock, self.restock_date,
                                  self.lead_time_days, today or utcnow().date())

    def payload(self) -> dict[str, Any]:
        """The spec's cart item (plus variation, sku, line total, stock, ship date)."""
        return line_payload(self.item_id, self.product_id, self.variation_id, self.variation_name, self.quantity,
                            self.name, self.sku, f"{self.unit_price:.2f}", f"{self.line_total:.2f}",
                            self.stock_status, self.stock, self.image, self.stock_policy, iso(self.ship_date()))


def _line(r: list) -> CartLine:
    """A row of ``_CART_SQL``'s lines as a CartLine."""
    extra = r[13:21] if len(r) > 13 else [None, None, False, "deny", 0, 0, None, 0]
    weight, volume, bulky, policy, backordered, limit, restock, lead = extra
    return CartLine(item_id=r[0], product_id=r[1], variation_id=r[2], quantity=r[3], name=r[4], sku=r[5],
                    variation_type=r[6], variation_name=r[7], unit_price=Decimal(r[8]), line_total=Decimal(r[9]),
                    status=r[10], stock=r[11], image=r[12], weight=Decimal(weight) if weight else None,
                    volume_cm3=Decimal(volume) if volume else None, is_bulky=bool(bulky), stock_policy=policy or "deny",
                    backordered=backordered or 0, backorder_limit=limit or 0,
                    restock_date=dt.date.fromisoformat(restock) if restock else None, lead_time_days=lead or 0)


def line_payload(item_id: int, product_id: int, variation_id: int | None, variation_name: str | None,
                 quantity: int, name: str, sku: str, unit_price: str, line_total: str, state: str, stock: int,
                 image: str | None, policy: str = "deny", ship_date: str | None = None) -> dict[str, Any]:
    return {
        "cart_item_id": item_id,
        "product": product_id,
        "variation": variation_id,
        "variation_name": variation_name,
        "quantity": quantity,
        "product_name": name,
        "sku": sku,
        "product_price": unit_price,
        "line_total": line_total,
        "stock_status": state,
        "stock_quantity": stock,
        "product_image": image,
        "stock_policy": policy,
        "expected_ship_date": ship_date,
    }


class CartState:
    """A user's cart as stored, priced with today's prices (the row of
    ``_CART_SQL``; ``lines`` builds Decimal lines for the paths that need them).

    ``rows``: the lines as lists, in line order: item id, product id, variation
    id, quantity, name, sku, variation type, variation name, unit price and
    line total (text), product status, stock, image."""

    def __init__(self, user_id: int, rows: list[tuple]) -> None:
        self.user_id = user_id
        first = rows[0] if rows else None
        self.rows: list[list] = orjson.loads(first[14]) if first is not None and first[14] is not None else []
        self.cart_id = first[0] if first else None
        self.created_at = first[1] if first else None
        self.updated_at = first[2] if first else None
        self.subtotal: Decimal = money(first[12]) if first else ZERO
        self.total_items: int = int(first[13]) if first else 0
        self.promo: Any = None
        if first is not None and first[3] is not None:
            self.promo = SimpleNamespace(id=first[3], code=first[4], discount_percentage=first[5],
                                         valid_from=first[6], valid_to=first[7], min_order_amount=first[8],
                                         usage_limit=first[9], times_used=first[10], is_active=first[11],
                                         discount_type=first[16], name=first[17])
        self.candidates = candidates_from_json(first[15] if first is not None else None)
        self._lines: list[CartLine] | None = None
        self._best: BestDiscount | None = None

    @property
    def lines(self) -> list[CartLine]:
        if self._lines is None:
            self._lines = [_line(r) for r in self.rows]
        return self._lines

    def priced_items(self) -> list[PricedItem]:
        # r[21]: the product's category (promotions scoped to categories)
        return [PricedItem(r[1], r[21] if len(r) > 21 else None, Decimal(r[9])) for r in self.rows]

    def best(self, shipping: Decimal = ZERO) -> BestDiscount:
        """The best promotion for the cart as it is (models/cart/promo.py best_discount)."""
        if shipping == ZERO and self._best is not None:
            return self._best
        found = best_discount(self.candidates, self.priced_items(), self.subtotal, shipping,
                              self.promo.id if self.promo is not None else None)
        if shipping == ZERO:
            self._best = found
        return found

    def promo_problem(self, now: dt.datetime | None = None) -> str | None:
        if self.promo is None:
            return None
        return self.best().code_problem

    @property
    def discount(self) -> Decimal:
        """The best promotion's goods discount (0 without one)."""
        if not self.rows:
            return ZERO
        return self.best().discount

    def promo_payload(self) -> dict[str, Any] | None:
        if self.promo is None:
            return None
        problem = self.promo_problem()
        best = self.best() if self.rows else None
        applied = best is not None and best.promotion is not None and best.promotion.id == self.promo.id
        message = problem
        if problem is None and best is not None and not applied and best.promotion is not None:
            message = f"Not applied: {best.promotion.label()} gives a bigger discount (promotions do not combine)"
        pct = self.promo.discount_percentage
        return {"code": self.promo.code, "discount_percentage": money(pct) if pct is not None else None,
                "discount_type": self.promo.discount_type, "is_valid": problem is None, "applied": applied,
                "message": message}

    def discount_lines(self) -> list[dict[str, Any]]:
        return [line.payload() for line in self.best().lines] if self.rows else []

    def totals(self) -> dict[str, Any]:
        subtotal, discount = self.subtotal, self.discount
        return {"subtotal": subtotal, "discount": discount, "total": money(subtotal - discount),
                "promo_code": self.promo_payload(), "discount_lines": self.discount_lines()}

    def items_payload(self) -> list[dict[str, Any]]:
        """The lines as the API sends them, straight from the rows (the hot path)."""
        return [line.payload() for line in self.lines]


async def load_cart(user_id: int, rows: list[tuple] | None = None) -> CartState:
    """The user's cart (an empty one without an id when they have none yet).
    One query, or none given the rows of ``CART_READ`` (read with the user)."""
    if rows is None:
        rows = await CART_READ.fetch(user_id)
    return CartState(user_id, rows)


def cart_payload(cart: CartState) -> dict[str, Any]:
    """GET /cart/: the spec's shape plus the totals and the applied promo code."""
    return {
        "cart_id": cart.cart_id,
        "user": cart.user_id,
        "items": cart.items_payload(),
        "total_items": cart.total_items,
        "items_count": len(cart.rows),
        **cart.totals(),
        "created_at": cart.created_at,
        "updated_at": cart.updated_at,
    }


def summary_payload(cart: CartState) -> dict[str, Any]:
    """GET /cart/summary/: the spec's three numbers; ``total_price`` is after the promo
    discount, and also sent as ``total``, its name in GET /cart/."""
    totals = cart.totals()
    return {
        "total_items": cart.total_items,
        "total": totals["total"],
        "total_price": totals["total"],
        "items_count": len(cart.rows),
        "subtotal": totals["subtotal"],
        "discount": totals["discount"],
        "promo_code": totals["promo_code"],
        "discount_lines": totals["discount_lines"],
    }


def tax_on(amount: Decimal) -> Decimal:
    """``TAX_RATE`` of ``amount`` (the discounted subtotal), half-up to the cent."""
    return money(amount * settings.TAX_RATE)
