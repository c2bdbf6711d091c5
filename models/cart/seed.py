"""A demo promo code (``python server.py seed``, ``make run``)."""
from __future__ import annotations

import logging
from decimal import Decimal

from models.cart.promo import PromoCode
from models.core.db import utcnow
from models.core.seed import SEEDERS

log = logging.getLogger("avantlush.seed")


async def seed_demo_promo_code(_count: int, _progress: bool) -> None:
    if not await PromoCode.select().aio_exists():
        now = utcnow()
        await PromoCode.aio_create(code="WELCOME10", discount_percentage=Decimal("10.00"), created_at=now,
                                   updated_at=now)
        log.info("demo promo code: WELCOME10 (10 %)")


SEEDERS["promo_codes"] = seed_demo_promo_code
