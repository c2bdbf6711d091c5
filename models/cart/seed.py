"""Demo promotions (``python server.py seed``, ``make run``): the percentage
code WELCOME10, a fixed-amount code TAKE25 (once per customer, from 200.00),
a free-shipping code FREESHIP (from 150.00) and an automatic sale on the
first top-level category (and its subcategories)."""
from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from models.cart.promo import PromoCode
from models.core.db import fetch_one, utcnow
from models.core.seed import SEEDERS

log = logging.getLogger("avantlush.seed")


async def seed_demo_promo_code(_count: int, _progress: bool) -> None:
    if await PromoCode.select().aio_exists():
        return
    now = utcnow()
    await PromoCode.aio_create(code="WELCOME10", discount_percentage=Decimal("10.00"), created_at=now,
                               updated_at=now)
    await PromoCode.aio_create(code="TAKE25", name="25 off orders over 200", discount_type="fixed",
                               discount_amount=Decimal("25.00"), min_order_amount=Decimal("200.00"),
                               per_customer_limit=1, created_at=now, updated_at=now)
    await PromoCode.aio_create(code="FREESHIP", name="Free delivery over 150", discount_type="free_shipping",
                               min_order_amount=Decimal("150.00"), created_at=now, updated_at=now)
    top = await fetch_one("SELECT id, name FROM category WHERE parent_id IS NULL ORDER BY id LIMIT 1")
    if top is not None:
        await PromoCode.aio_create(code=None, automatic=True, name=f"{top[1]} week: 15% off",
                                   discount_percentage=Decimal("15.00"), category_ids=[top[0]],
                                   valid_from=now - dt.timedelta(days=1), valid_to=now + dt.timedelta(days=30),
                                   created_at=now, updated_at=now)
    log.info("demo promotions: WELCOME10 (10 %%), TAKE25 (25.00 off, once each), FREESHIP, automatic %s",
             top[1] if top else "none")


SEEDERS["promo_codes"] = seed_demo_promo_code
