"""Promotions: staff CRUD, the rules a promotion must meet to apply to a cart,
the choice of the best one, and the atomic redemption orders call when one is used.

A promotion (a ``promo_code`` row, migration 0025) is a code the shopper
enters or ``automatic`` (no code, applies by itself inside its window). It
takes a percentage or a fixed amount off the eligible lines, or makes the
shipping free. Eligible lines: every line, or with a scope, the lines of its
``product_ids`` and of its ``category_ids`` (and their subcategories unless
``include_subcategories`` is false). ``min_order_amount`` is on the whole
subtotal. ``per_customer_limit`` counts a customer's orders that used it
(``promo_redemption``: user id, or e-mail for guests).

The best discount (``best_discount``): among the entered code and the
automatic promotions that apply, the one worth most (goods discount + the
shipping it saves); ties go to the entered code, then the lowest id. One
promotion per order: discounts do not stack. ``discount_lines`` explains it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import peewee

from models.cart.tables import PromoCode
from models.core.db import fetch_one, money, transaction, utcnow
from models.core.errors import NotFound, ValidationFailed

NOT_FOUND = "Promo code not found"
INVALID = "Invalid promo code"
MAX_ID = 2**31 - 1


class PromoCodeRejected(ValidationFailed):
    """A code that exists but does not apply now (400), with the reason."""


def normalise_code(code: str) -> str:
    return code.strip().upper()


DISCOUNT_TYPES = ("percentage", "fixed", "free_shipping")
PER_CUSTOMER = "You have already used this promotion as many times as it allows"
NOT_IN_SCOPE = "This promo code does not apply to the items in your cart"


def promo_payload(promo: PromoCode) -> dict[str, Any]:
    return {
        "id": promo.id,
        "code": promo.code,
        "name": promo.name,
        "discount_type": promo.discount_type,
        "discount_percentage": money(promo.discount_percentage) if promo.discount_percentage is not None else None,
        "discount_amount": money(promo.discount_amount) if promo.discount_amount is not None else None,
        "automatic": promo.automatic,
        "per_customer_limit": promo.per_customer_limit,
        "category_ids": list(promo.category_ids or []),
        "product_ids": list(promo.product_ids or []),
        "include_subcategories": promo.include_subcategories,
        "valid_from": promo.valid_from,
        "valid_to": promo.valid_to,
        "min_order_amount": money(promo.min_order_amount),
        "usage_limit": promo.usage_limit,
        "times_used": promo.times_used,
        "is_active": promo.is_active,
        "created_at": promo.created_at,
        "updated_at": promo.updated_at,
    }


def promo_problem(promo: Any, subtotal: Decimal, now: dt.datetime | None = None,
                  customer_uses: int = 0) -> str | None:
    """Why ``promo`` (a PromoCode or anything with its fields) does not apply
    to a cart of ``subtotal`` at ``now`` for a customer who used it
    ``customer_uses`` times; None when it applies.

    The usage limits are checked here as they stand; the authoritative
    check is ``redeem_promo_code`` when an order uses it.
    """
    now = now or utcnow()
    if not promo.is_active:
        return INVALID
    if promo.valid_from is not None and now < promo.valid_from:
        return "This promo code is not valid yet"
    if promo.valid_to is not None and now > promo.valid_to:
        return "This promo code has expired"
    if promo.usage_limit is not None and promo.times_used >= promo.usage_limit:
        return "This promo code has reached its usage limit"
    limit = getattr(promo, "per_customer_limit", None)
    if limit is not None and customer_uses >= limit:
        return PER_CUSTOMER
    if subtotal < money(promo.min_order_amount):
        return f"A minimum order of {money(promo.min_order_amount):.2f} is required for this promo code"
    return None


def discount_for(promo: Any, subtotal: Decimal) -> Decimal:
    """The goods discount ``promo`` gives on ``subtotal`` (its eligible lines),
    half-up to the cent: a percentage of it, or a fixed amount (never more
    than ``subtotal``); none for free shipping."""
    kind = getattr(promo, "discount_type", "percentage") or "percentage"
    if kind == "fixed":
        return min(money(promo.discount_amount), money(subtotal))
    if kind == "free_shipping":
        return money(0)
    return money(Decimal(subtotal) * Decimal(promo.discount_percentage) / 100)


# --- choosing the best promotion ----------------------------------------------------

@dataclass
class PricedItem:
    """What the choice needs of a cart line."""

    product_id: int
    category_id: int | None
    line_total: Decimal


@dataclass
class Candidate:
    """A promotion as the cart read carries it (``CANDIDATES_SQL``)."""

    id: int
    code: str | None
    name: str
    discount_type: str
    discount_percentage: Decimal | None
    discount_amount: Decimal | None
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    min_order_amount: Decimal
    usage_limit: int | None
    times_used: int
    is_active: bool
    automatic: bool
    per_customer_limit: int | None
    product_ids: frozenset[int]
    scope_categories: frozenset[int]  # the categories of its scope with their subcategories
    customer_uses: int
    scoped: bool

    @classmethod
    def from_row(cls, r: list) -> Candidate:
        def when(v: str | None) -> dt.datetime | None:
            return dt.datetime.fromisoformat(v) if v else None

        return cls(id=r[0], code=r[1], name=r[2] or "", discount_type=r[3],
                   discount_percentage=Decimal(r[4]) if r[4] is not None else None,
                   discount_amount=Decimal(r[5]) if r[5] is not None else None, valid_from=when(r[6]),
                   valid_to=when(r[7]), min_order_amount=Decimal(r[8]), usage_limit=r[9], times_used=r[10],
                   is_active=r[11], automatic=r[12], per_customer_limit=r[13],
                   product_ids=frozenset(r[14] or ()), scope_categories=frozenset(r[15] or ()),
                   customer_uses=r[16] or 0, scoped=bool(r[14] or r[17]))

    def eligible(self, items: list[PricedItem]) -> Decimal:
        """The subtotal of the lines it applies to."""
        if not self.scoped:
            return money(sum((i.line_total for i in items), Decimal(0)))
        return money(sum((i.line_total for i in items if i.product_id in self.product_ids
                          or (i.category_id is not None and i.category_id in self.scope_categories)), Decimal(0)))

    def label(self) -> str:
        return self.name or (self.code or f"Promotion {self.id}")


# The candidates of a cart, as a JSON array of arrays (Candidate.from_row):
# the cart's entered code and every active automatic promotion inside its
# window, with the scope's categories expanded to their subtrees and the
# customer's uses. ``{cart}``: the SQL of the cart's promo_code_id; ``{user}``
# of the user id. A correlated subquery of the cart read (one statement).
CANDIDATES_SQL = """(SELECT json_agg(json_build_array(pr.id, pr.code, pr.name, pr.discount_type,
    pr.discount_percentage::text, pr.discount_amount::text, pr.valid_from, pr.valid_to, pr.min_order_amount::text,
    pr.usage_limit, pr.times_used, pr.is_active, pr.automatic, pr.per_customer_limit, pr.product_ids,
    CASE WHEN cardinality(pr.category_ids) = 0 THEN '{{}}'::int[]
         WHEN NOT pr.include_subcategories THEN pr.category_ids
         ELSE ARRAY(WITH RECURSIVE tree(id) AS (SELECT unnest(pr.category_ids)
             UNION SELECT c2.id FROM category c2 JOIN tree ON c2.parent_id = tree.id) SELECT id FROM tree) END,
    (SELECT count(*) FROM promo_redemption r WHERE r.promo_code_id = pr.id AND r.user_id = {user}),
    cardinality(pr.category_ids) > 0) ORDER BY pr.id)::text
  FROM promo_code pr
  WHERE pr.id = {cart} OR (pr.automatic AND pr.is_active
    AND (pr.valid_from IS NULL OR pr.valid_from <= (now() at time zone 'utc'))
    AND (pr.valid_to IS NULL OR pr.valid_to >= (now() at time zone 'utc'))))"""


@dataclass
class DiscountLine:
    """One promotion's part of the price, as the cart and checkout explain it."""

    promotion_id: int
    code: str | None
    name: str
    discount_type: str
    amount: Decimal  # off the goods
    shipping_discount: Decimal  # off the shipping
    description: str

    def payload(self) -> dict[str, Any]:
        return {"promotion_id": self.promotion_id, "code": self.code, "name": self.name,
                "discount_type": self.discount_type, "amount": self.amount,
                "shipping_discount": self.shipping_discount, "description": self.description}


@dataclass
class BestDiscount:
    promotion: Candidate | None = None
    discount: Decimal = field(default_factory=lambda: money(0))
    shipping_discount: Decimal = field(default_factory=lambda: money(0))
    lines: list[DiscountLine] = field(default_factory=list)
    code_problem: str | None = None  # why the entered code does not apply (None: it does, or none entered)


def _describe(p: Candidate, amount: Decimal, shipping_off: Decimal) -> str:
    scope = " on selected items" if p.scoped else ""
    if p.discount_type == "free_shipping":
        return "Free shipping" + (f" (saves {shipping_off:.2f})" if shipping_off else "")
    if p.discount_type == "fixed":
        return f"{money(p.discount_amount):.2f} off{scope}"
    return f"{money(p.discount_percentage):.2f}% off{scope}"


def best_discount(candidates: list[Candidate], items: list[PricedItem], subtotal: Decimal,
                  shipping: Decimal = Decimal(0), entered_id: int | None = None,
                  now: dt.datetime | None = None) -> BestDiscount:
    """The best promotion for a cart: the applicable one worth most (goods
    discount + shipping saved), ties to the entered code, then the lowest id.

    ``candidates``: the entered code (``entered_id``) and the automatic
    promotions; ``shipping``: the quote's shipping cost (0 when none is
    chosen yet: free shipping is then worth nothing).
    """
    now = now or utcnow()
    shipping = money(shipping)
    best: tuple | None = None
    result = BestDiscount()
    for p in candidates:
        if not p.automatic and p.id != entered_id:
            continue
        problem = promo_problem(p, subtotal, now, p.customer_uses)
        eligible = p.eligible(items)
        if problem is None and p.scoped and eligible <= 0:
            problem = NOT_IN_SCOPE
        if problem is not None:
            if p.id == entered_id:
                result.code_problem = problem
            continue
        amount = discount_for(p, eligible)
        shipping_off = shipping if p.discount_type == "free_shipping" else money(0)
        key = (amount + shipping_off, p.id == entered_id, -p.id)
        if best is None or key > best[0]:
            best = (key, p, amount, shipping_off)
    if best is not None:
        _key, p, amount, shipping_off = best
        result.promotion, result.discount, result.shipping_discount = p, amount, shipping_off
        result.lines = [DiscountLine(p.id, p.code, p.label(), p.discount_type, amount, shipping_off,
                                     _describe(p, amount, shipping_off))]
    return result


def candidates_from_json(text: str | None) -> list[Candidate]:
    return [Candidate.from_row(r) for r in orjson.loads(text)] if text else []


async def find_code(code: str) -> PromoCode:
    """The promo code spelt ``code`` in any case. Raises ValidationFailed("Invalid promo code")."""
    text = normalise_code(code or "")
    promo = await PromoCode.aio_get_or_none(peewee.fn.upper(PromoCode.code) == text) if text else None
    if promo is None:
        raise ValidationFailed(INVALID, errors={"code": [INVALID]})
    return promo


def check_applies(promo: PromoCode, subtotal: Decimal) -> None:
    """Raises PromoCodeRejected with the reason when ``promo`` does not apply."""
    problem = promo_problem(promo, subtotal)
    if problem:
        raise PromoCodeRejected(problem, errors={"code": [problem]})


async def candidates(user_id: int | None, code_id: int | None) -> list[Candidate]:
    """The promotions a cart of ``user_id`` may get with the code ``code_id``
    entered (or none): that code and the automatic ones (one query)."""
    sql = "SELECT " + CANDIDATES_SQL.format(cart="%(code)s::integer", user="%(user)s::integer")
    row = await fetch_one(sql, {"code": code_id, "user": user_id})
    return candidates_from_json(row[0] if row else None)


async def redeem_promo_code(promo_code_id: int, *, order_id: int | None = None, user_id: int | None = None,
                            email: str | None = None) -> None:
    """Take one use of a promotion, atomically: the count goes up only while
    it is active, inside its window and under its usage limit, however
    many orders race for the last use (one conditional UPDATE). With
    ``order_id`` (whose buyer is read from the order unless ``user_id`` /
    ``email`` are given), the use is recorded in ``promo_redemption`` and the
    promotion's ``per_customer_limit`` holds too: the UPDATE's row lock
    serialises the redemptions of one promotion, so the count of the buyer's
    earlier uses (read after it) sees every committed one.

    For orders, inside their transaction (a rollback gives the use back).
    Raises PromoCodeRejected (400) with the reason when no use is left or the
    code no longer applies, NotFound for an unknown id.
    """
    async with transaction():
        row = await fetch_one(
            "UPDATE promo_code SET times_used = times_used + 1 "
            "WHERE id = %(id)s AND is_active AND (usage_limit IS NULL OR times_used < usage_limit) "
            "AND (valid_from IS NULL OR valid_from <= now() at time zone 'utc') "
            "AND (valid_to IS NULL OR valid_to >= now() at time zone 'utc') RETURNING id, per_customer_limit",
            {"id": promo_code_id})
        if row is not None:
            if order_id is None and user_id is None and not email:
                return
            if order_id is not None and user_id is None and not email:
                buyer = await fetch_one("SELECT user_id, customer_email FROM orders WHERE id = %s", [order_id])
                if buyer is not None:
                    user_id, email = buyer
            email = (email or "").strip().lower()
            if row[1] is not None and (user_id is not None or email):
                used = await fetch_one(
                    "SELECT count(*) FROM promo_redemption WHERE promo_code_id = %(id)s "
                    "AND ((%(user)s::integer IS NOT NULL AND user_id = %(user)s::integer) "
                    "OR (%(email)s <> '' AND lower(email) = %(email)s))",
                    {"id": promo_code_id, "user": user_id, "email": email})
                if used[0] >= row[1]:
                    raise PromoCodeRejected(PER_CUSTOMER, errors={"promo_code": [PER_CUSTOMER]})
            await fetch_one("INSERT INTO promo_redemption (promo_code_id, user_id, email, order_id) "
                            "VALUES (%s, %s, %s, %s) RETURNING id", [promo_code_id, user_id, email, order_id])
            return
    promo = await PromoCode.aio_get_or_none(PromoCode.id == promo_code_id)
    if promo is None:
        raise NotFound(NOT_FOUND)
    problem = promo_problem(promo, Decimal("Infinity")) or "This promo code has reached its usage limit"
    raise PromoCodeRejected(problem, errors={"promo_code": [problem]})


# --- staff CRUD -----------------------------------------------------------------

async def list_promo_codes() -> list[PromoCode]:
    return list(await PromoCode.select().order_by(PromoCode.created_at.desc(), PromoCode.id.desc()).aio_execute())


async def get_promo_code(promo_id: int) -> PromoCode:
    promo = await PromoCode.aio_get_or_none(PromoCode.id == promo_id) if 0 < promo_id <= MAX_ID else None
    if promo is None:
        raise NotFound(NOT_FOUND)
    return promo


def _check(data: dict[str, Any]) -> None:
    """The rules across fields (a merged row: stored values overlaid with the changes)."""
    errors: dict[str, list[str]] = {}
    start, end = data.get("valid_from"), data.get("valid_to")
    if start is not None and end is not None and start > end:
        errors["valid_to"] = ["Must be on or after valid_from."]
    kind = data.get("discount_type") or "percentage"
    if kind == "percentage" and data.get("discount_percentage") is None:
        errors["discount_percentage"] = ["This field is required for a percentage discount."]
    if kind == "fixed" and data.get("discount_amount") is None:
        errors["discount_amount"] = ["This field is required for a fixed-amount discount."]
    if data.get("automatic"):
        if data.get("code"):
            errors["code"] = ["An automatic promotion has no code."]
        if not data.get("name"):
            errors["name"] = ["An automatic promotion needs a name (shown in the cart)."]
    elif not data.get("code"):
        errors["code"] = ["This field is required (or make the promotion automatic)."]
    if errors:
        raise ValidationFailed(errors=errors)


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    if data.get("code") is not None:
        data["code"] = normalise_code(data["code"]) or None
    for key in ("category_ids", "product_ids"):
        if key in data and data[key] is not None:
            data[key] = sorted(set(data[key]))
    if data.get("discount_type") == "free_shipping" or data.get("discount_type") == "fixed":
        data.setdefault("discount_percentage", None)
    return data


async def _check_scope(data: dict[str, Any]) -> None:
    """Every category and product of the scope exists (one query)."""
    cats, prods = data.get("category_ids") or [], data.get("product_ids") or []
    if not cats and not prods:
        return
    row = await fetch_one("SELECT ARRAY(SELECT x FROM unnest(%s::int[]) x WHERE NOT EXISTS "
                          "(SELECT 1 FROM category c WHERE c.id = x)), ARRAY(SELECT x FROM unnest(%s::int[]) x "
                          "WHERE NOT EXISTS (SELECT 1 FROM product p WHERE p.id = x))", [cats, prods])
    errors = {}
    if row[0]:
        errors["category_ids"] = [f"Unknown category id(s): {', '.join(map(str, row[0]))}."]
    if row[1]:
        errors["product_ids"] = [f"Unknown product id(s): {', '.join(map(str, row[1]))}."]
    if errors:
        raise ValidationFailed(errors=errors)


async def _code_taken(code: str, except_id: int | None = None) -> bool:
    query = PromoCode.select().where(peewee.fn.upper(PromoCode.code) == code)
    if except_id is not None:
        query = query.where(PromoCode.id != except_id)
    return await query.aio_exists()


DUPLICATE = "Promo code with this code already exists."


async def create_promo_code(data: dict[str, Any]) -> PromoCode:
    """Create a promotion (staff). Raises ValidationFailed for a duplicate code,
    a bad window, a missing value for its type, an unknown scope id."""
    data = _normalise(data)
    data["automatic"] = bool(data.get("automatic"))
    _check(data)
    await _check_scope(data)
    if data.get("code") and await _code_taken(data["code"]):
        raise ValidationFailed(errors={"code": [DUPLICATE]})
    now = utcnow()
    try:
        async with transaction():
            return await PromoCode.aio_create(**data, created_at=now, updated_at=now)
    except peewee.IntegrityError:  # a concurrent create of the same code
        raise ValidationFailed(errors={"code": [DUPLICATE]}) from None


_FIELDS = ("code", "name", "discount_type", "discount_percentage", "discount_amount", "automatic", "valid_from",
           "valid_to", "per_customer_limit", "category_ids", "product_ids", "include_subcategories")


async def update_promo_code(promo_id: int, changes: dict[str, Any]) -> PromoCode:
    """Change fields of a promotion (staff). Raises NotFound, ValidationFailed."""
    promo = await get_promo_code(promo_id)
    changes = _normalise(changes)
    if changes.get("automatic") and "code" not in changes:
        changes["code"] = None  # turning a code into an automatic promotion drops the code
    if changes.get("code") and await _code_taken(changes["code"], promo.id):
        raise ValidationFailed(errors={"code": [DUPLICATE]})
    merged = {**{k: getattr(promo, k) for k in _FIELDS}, **changes}
    _check(merged)
    await _check_scope(changes)
    if changes:
        try:
            async with transaction():
                await PromoCode.update(**changes, updated_at=utcnow()).where(PromoCode.id == promo.id).aio_execute()
        except peewee.IntegrityError:
            raise ValidationFailed(errors={"code": [DUPLICATE]}) from None
    return await get_promo_code(promo_id)


async def delete_promo_code(promo_id: int) -> None:
    """Delete a code (staff); carts holding it lose it. Raises NotFound."""
    promo = await get_promo_code(promo_id)
    await PromoCode.delete().where(PromoCode.id == promo.id).aio_execute()

