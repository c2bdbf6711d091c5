"""Promo codes: staff CRUD, the rules a code must meet to apply to a cart,
and the atomic redemption orders call when a code is used."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

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


def promo_payload(promo: PromoCode) -> dict[str, Any]:
    return {
        "id": promo.id,
        "code": promo.code,
        "discount_percentage": money(promo.discount_percentage),
        "valid_from": promo.valid_from,
        "valid_to": promo.valid_to,
        "min_order_amount": money(promo.min_order_amount),
        "usage_limit": promo.usage_limit,
        "times_used": promo.times_used,
        "is_active": promo.is_active,
        "created_at": promo.created_at,
        "updated_at": promo.updated_at,
    }


def promo_problem(promo: Any, subtotal: Decimal, now: dt.datetime | None = None) -> str | None:
    """Why ``promo`` (a PromoCode or anything with its fields) does not apply
    to a cart of ``subtotal`` at ``now``; None when it applies.

    The usage limit is checked here as the code stands; the authoritative
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
    if subtotal < money(promo.min_order_amount):
        return f"A minimum order of {money(promo.min_order_amount):.2f} is required for this promo code"
    return None


def discount_for(promo: Any, subtotal: Decimal) -> Decimal:
    """The discount ``promo`` gives on ``subtotal``, half-up to the cent."""
    return money(Decimal(subtotal) * Decimal(promo.discount_percentage) / 100)


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


async def redeem_promo_code(promo_code_id: int) -> None:
    """Take one use of a promo code, atomically: the count goes up only while
    the code is active, inside its window and under its usage limit, however
    many orders race for the last use (one conditional UPDATE).

    For orders, inside their transaction (a rollback gives the use back).
    Raises PromoCodeRejected (400) with the reason when no use is left or the
    code no longer applies, NotFound for an unknown id.
    """
    row = await fetch_one(
        "UPDATE promo_code SET times_used = times_used + 1 "
        "WHERE id = %(id)s AND is_active AND (usage_limit IS NULL OR times_used < usage_limit) "
        "AND (valid_from IS NULL OR valid_from <= now() at time zone 'utc') "
        "AND (valid_to IS NULL OR valid_to >= now() at time zone 'utc') RETURNING id",
        {"id": promo_code_id})
    if row is not None:
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
    start, end = data.get("valid_from"), data.get("valid_to")
    if start is not None and end is not None and start > end:
        raise ValidationFailed(errors={"valid_to": ["Must be on or after valid_from."]})


async def _code_taken(code: str, except_id: int | None = None) -> bool:
    query = PromoCode.select().where(peewee.fn.upper(PromoCode.code) == code)
    if except_id is not None:
        query = query.where(PromoCode.id != except_id)
    return await query.aio_exists()


DUPLICATE = "Promo code with this code already exists."


async def create_promo_code(data: dict[str, Any]) -> PromoCode:
    """Create a code (staff). Raises ValidationFailed for a duplicate code or a bad window."""
    data = {**data, "code": normalise_code(data["code"])}
    _check(data)
    if await _code_taken(data["code"]):
        raise ValidationFailed(errors={"code": [DUPLICATE]})
    now = utcnow()
    try:
        async with transaction():
            return await PromoCode.aio_create(**data, created_at=now, updated_at=now)
    except peewee.IntegrityError:  # a concurrent create of the same code
        raise ValidationFailed(errors={"code": [DUPLICATE]}) from None


async def update_promo_code(promo_id: int, changes: dict[str, Any]) -> PromoCode:
    """Change fields of a code (staff). Raises NotFound, ValidationFailed."""
    promo = await get_promo_code(promo_id)
    if "code" in changes:
        changes["code"] = normalise_code(changes["code"])
        if await _code_taken(changes["code"], promo.id):
            raise ValidationFailed(errors={"code": [DUPLICATE]})
    merged = {"valid_from": promo.valid_from, "valid_to": promo.valid_to, **changes}
    _check(merged)
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

