"""The cart's read side: the whole cart (lines with their current prices,
stock and image, and the applied promo code) in ONE query whatever it holds,
and the arithmetic of its totals.

Prices always come from the catalog as it is now: a line's unit price is the
product's effective price (base price less its discount) plus the
variation's price adjustment, never below zero.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import settings
from models.cart.promo import discount_for, promo_problem
from models.catalog.queries import MAIN_IMAGE_SQL, fetch_prepared, iso_sql
from models.db import money

ZERO = Decimal("0.00")

_CART_SQL = f"""SELECT c.id, {iso_sql("c.created_at")}, {iso_sql("c.updated_at")},
    pc.id, pc.code, pc.discount_percentage, pc.valid_from, pc.valid_to, pc.min_order_amount, pc.usage_limit,
    pc.times_used, pc.is_active,
    ci.id, ci.product_id, ci.variation_id, ci.quantity, p.name, COALESCE(v.sku, p.sku), v.variation_type,
    v.variation, GREATEST(p.price + COALESCE(v.price_adjustment, 0), 0), p.status,
    COALESCE(v.stock_quantity, p.stock_quantity), {MAIN_IMAGE_SQL}
FROM cart c
LEFT JOIN promo_code pc ON pc.id = c.promo_code_id
LEFT JOIN cart_item ci ON ci.cart_id = c.id
LEFT JOIN product p ON p.id = ci.product_id
LEFT JOIN product_variation v ON v.id = ci.variation_id
WHERE c.user_id = %(user_id)s
ORDER BY ci.id"""


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

    @property
    def stock_status(self) -> str:
        return stock_status(self.status, self.stock, self.quantity)

    def payload(self) -> dict[str, Any]:
        """The spec's cart item (plus variation, sku, line total, stock)."""
        return {
            "cart_item_id": self.item_id,
            "product": self.product_id,
            "variation": self.variation_id,
            "variation_name": self.variation_name,
            "quantity": self.quantity,
            "product_name": self.name,
            "sku": self.sku,
            "product_price": self.unit_price,
            "line_total": self.line_total,
            "stock_status": self.stock_status,
            "stock_quantity": self.stock,
            "product_image": self.image,
        }


@dataclass
class CartState:
    """A user's cart as stored, priced with today's prices."""

    cart_id: int | None
    user_id: int
    created_at: str | None
    updated_at: str | None
    promo: Any  # SimpleNamespace of the applied promo code's fields, or None
    lines: list[CartLine] = field(default_factory=list)

    @property
    def subtotal(self) -> Decimal:
        return money(sum((line.line_total for line in self.lines), ZERO))

    @property
    def total_items(self) -> int:
        return sum(line.quantity for line in self.lines)

    def promo_problem(self, now: dt.datetime | None = None) -> str | None:
        return promo_problem(self.promo, self.subtotal, now) if self.promo is not None else None

    @property
    def discount(self) -> Decimal:
        """The applied code's discount, when it applies now (else 0)."""
        if self.promo is None or not self.lines or self.promo_problem() is not None:
            return ZERO
        return discount_for(self.promo, self.subtotal)

    def promo_payload(self) -> dict[str, Any] | None:
        if self.promo is None:
            return None
        problem = self.promo_problem()
        return {"code": self.promo.code, "discount_percentage": money(self.promo.discount_percentage),
                "is_valid": problem is None, "message": problem}

    def totals(self) -> dict[str, Any]:
        subtotal, discount = self.subtotal, self.discount
        return {"subtotal": subtotal, "discount": discount, "total": money(subtotal - discount),
                "promo_code": self.promo_payload()}


async def load_cart(user_id: int) -> CartState:
    """The user's cart (an empty one without an id when they have none yet). One query."""
    rows = await fetch_prepared(_CART_SQL, {"user_id": user_id})
    if not rows:
        return CartState(None, user_id, None, None, None)
    first = rows[0]
    promo = None
    if first[3] is not None:
        promo = SimpleNamespace(id=first[3], code=first[4], discount_percentage=first[5], valid_from=first[6],
                                valid_to=first[7], min_order_amount=first[8], usage_limit=first[9],
                                times_used=first[10], is_active=first[11])
    lines = []
    for r in rows:
        if r[12] is None:
            continue
        unit = money(r[20])
        lines.append(CartLine(item_id=r[12], product_id=r[13], variation_id=r[14], quantity=r[15], name=r[16],
                              sku=r[17], variation_type=r[18], variation_name=r[19], unit_price=unit,
                              line_total=money(unit * r[15]), status=r[21], stock=r[22], image=r[23]))
    return CartState(first[0], user_id, first[1], first[2], promo, lines)


def cart_payload(cart: CartState) -> dict[str, Any]:
    """GET /cart/: the spec's shape plus the totals and the applied promo code."""
    return {
        "cart_id": cart.cart_id,
        "user": cart.user_id,
        "items": [line.payload() for line in cart.lines],
        "total_items": cart.total_items,
        "items_count": len(cart.lines),
        **cart.totals(),
        "created_at": cart.created_at,
        "updated_at": cart.updated_at,
    }


def summary_payload(cart: CartState) -> dict[str, Any]:
    """GET /cart/summary/: the spec's three numbers; ``total_price`` is after the promo discount."""
    totals = cart.totals()
    return {
        "total_items": cart.total_items,
        "total_price": totals["total"],
        "items_count": len(cart.lines),
        "subtotal": totals["subtotal"],
        "discount": totals["discount"],
        "promo_code": totals["promo_code"],
    }


def tax_on(amount: Decimal) -> Decimal:
    """``TAX_RATE`` of ``amount`` (the discounted subtotal), half-up to the cent."""
    return money(amount * settings.TAX_RATE)
