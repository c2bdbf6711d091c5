"""Promo codes and promotions (CONTRACT.md: no endpoint in the spec; staff manage them here).

Beyond the original percentage codes (issue 22): fixed-amount and
free-shipping discounts, automatic promotions (no code; ``automatic: true``
and a ``name``), a scope (``category_ids`` with their subcategories unless
``include_subcategories`` is false, ``product_ids``) and a
``per_customer_limit``. The rules: models/cart/promo.py."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from handlers.core.base import ADMIN, BaseHandler
from handlers.core.fields import (
    Doc,
    Flag,
    In,
    Money,
    MoneyText,
    OptionalMoney,
    Out,
    PkList,
    _decimal,
    ascii_digits,
    lower_choice,
    partial,
)
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.cart import promo as promos


def _utc_naive(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _limit(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and ascii_digits(value.strip()))
                                       or (isinstance(value, str) and value.strip().startswith("-"))):
        raise ValueError("A valid integer is required.")
    try:
        number = int(value)
    except ValueError:
        raise ValueError("A valid integer is required.") from None
    if number < 0:
        raise ValueError("Ensure this value is greater than or equal to 0.")
    if number > 2_147_483_647:
        raise ValueError("Ensure this value is less than or equal to 2147483647.")
    return number


Percentage = Annotated[Decimal, _decimal(null=False, minimum=Decimal("0.01"), max_digits=5), Doc({"anyOf": [
    {"type": "number", "minimum": 0.01, "maximum": 100},
    {"type": "string", "pattern": r"^(100(\.0{0,2})?|[1-9]\d?(\.\d{0,2})?|0?\.(0[1-9]|[1-9]\d?))$"}]})]
def _iso_text(value: object) -> object:
    # ISO 8601 text only, as documented (pydantic alone would take a Unix timestamp too).
    if value is not None and not isinstance(value, str):
        raise ValueError("Datetime has wrong format. Use ISO 8601: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].")
    return value


When = Annotated[dt.datetime | None, BeforeValidator(_iso_text), AfterValidator(_utc_naive)]
WINDOW = {400: "valid_to before valid_from, a code already in use, a value missing for the discount type, "
               "a code on an automatic promotion (or none on a code one), an unknown category or product"}
Limit = Annotated[int | None, BeforeValidator(_limit)]


def _positive_limit(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ValueError("Ensure this value is greater than or equal to 1.")
    return value


PerCustomer = Annotated[int | None, BeforeValidator(_limit), AfterValidator(_positive_limit)]
DiscountType = Annotated[Literal["percentage", "fixed", "free_shipping"], BeforeValidator(lower_choice)]
OptionalPercentage = Annotated[Decimal | None, _decimal(null=True, minimum=Decimal("0.01"), max_digits=5), Doc({"anyOf": [
    {"type": "number", "minimum": 0.01, "maximum": 100},
    {"type": "string", "pattern": r"^(100(\.0{0,2})?|[1-9]\d?(\.\d{0,2})?|0?\.(0[1-9]|[1-9]\d?))$"},
    {"type": "null"}]})]


def _optional_code(value: object) -> object:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError("Not a valid string.")
    return value.strip()


PromoCodeText = Annotated[str | None, BeforeValidator(_optional_code)]


class PromoCodeIn(In):
    code: PromoCodeText = Field(default=None, max_length=50, pattern=r"^[A-Za-z0-9_-]+$",
                                description="Letters, digits, - and _; matched case-insensitively. "
                                            "Required unless automatic (then none)")
    name: str = Field(default="", max_length=100, pattern=r"^[^\x00]*$",
                      description="Shown in the cart's discount_lines; required for an automatic promotion")
    discount_type: DiscountType = Field(default="percentage", description="percentage, fixed or free_shipping")
    discount_percentage: OptionalPercentage = Field(default=None, le=Decimal(100),
                                                    description="1-100 (two decimals); required for percentage")
    discount_amount: OptionalMoney = Field(default=None, gt=Decimal(0),
                                           description="Amount off the eligible lines; required for fixed")
    automatic: Flag = Field(default=False, description="Applies by itself (no code) inside its window")
    per_customer_limit: PerCustomer = Field(default=None,
                                            description="Orders per customer (user or guest e-mail); none: unlimited")
    category_ids: PkList = Field(default=[], description="Scope: these categories (empty: no category scope)")
    product_ids: PkList = Field(default=[], description="Scope: these products (both empty: the whole cart)")
    include_subcategories: Flag = Field(default=True, description="The scope's categories include their subcategories")
    valid_from: When = Field(default=None, description="ISO 8601; none: valid now")
    valid_to: When = Field(default=None, description="ISO 8601; none: no end")
    min_order_amount: Money = Field(default=Decimal("0.00"), description="Minimum cart subtotal")
    usage_limit: Limit = Field(default=None, description="Orders that may use it; none: unlimited")
    is_active: Flag = True


PromoCodePatch = partial(PromoCodeIn, "PromoCodePatch")


class PromoCodeOut(Out):
    id: int
    code: str | None = Field(description="None for an automatic promotion")
    name: str
    discount_type: str = Field(description="percentage, fixed or free_shipping")
    discount_percentage: MoneyText | None
    discount_amount: MoneyText | None
    automatic: bool
    per_customer_limit: int | None
    category_ids: list[int]
    product_ids: list[int]
    include_subcategories: bool
    valid_from: str | None
    valid_to: str | None
    min_order_amount: MoneyText
    usage_limit: int | None
    times_used: int
    is_active: bool
    created_at: str
    updated_at: str


class PromoCodeListHandler(BaseHandler):
    role = ADMIN

    @api(response=list[PromoCodeOut])
    async def get(self):
        """Every promo code, newest first."""
        self.reply([promos.promo_payload(p) for p in await promos.list_promo_codes()])

    @api(body=PromoCodeIn, response=PromoCodeOut, status=201, rejects=WINDOW)
    async def post(self):
        """Create a promo code."""
        data = self.parse(PromoCodeIn)
        self.reply(promos.promo_payload(await promos.create_promo_code(data.model_dump())), 201)


class PromoCodeHandler(BaseHandler):
    role = ADMIN

    @api(response=PromoCodeOut)
    async def get(self, id: str):
        """One promo code."""
        self.reply(promos.promo_payload(await promos.get_promo_code(int(id))))

    @api(body=PromoCodeIn, response=PromoCodeOut, rejects=WINDOW)
    async def put(self, id: str):
        """Replace a promo code's fields."""
        data = self.parse(PromoCodeIn)
        self.reply(promos.promo_payload(await promos.update_promo_code(int(id), data.model_dump())))

    @api(body=PromoCodePatch, response=PromoCodeOut, rejects=WINDOW)
    async def patch(self, id: str):
        """Change some fields of a promo code."""
        data = self.parse(PromoCodePatch)
        changes = data.model_dump(exclude_unset=True)
        nullable = {"valid_from", "valid_to", "usage_limit", "code", "discount_percentage", "discount_amount",
                    "per_customer_limit"}
        changes = {k: v for k, v in changes.items() if v is not None or k in nullable}
        self.reply(promos.promo_payload(await promos.update_promo_code(int(id), changes)))

    @api(status=204)
    async def delete(self, id: str):
        """Delete a promo code."""
        await promos.delete_promo_code(int(id))
        self.reply(status=204)


routes = [
    Route("/api/promo-codes/", PromoCodeListHandler),
    Route("/api/promo-codes/{id:int}/", PromoCodeHandler),
]
