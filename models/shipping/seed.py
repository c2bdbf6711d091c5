"""Demo shipping methods and a demo promo code (``python server.py seed``, ``make run``)."""
from __future__ import annotations

import logging
from decimal import Decimal

from models.seed import SEEDERS
from models.shipping.actions import seed_shipping_methods

log = logging.getLogger("avantlush.seed")


async def seed_demo(_count: int, _progress: bool) -> None:
    from models.cart.promo import PromoCode
    from models.db import utcnow

    added = await seed_shipping_methods()
    if not await PromoCode.select().aio_exists():
        now = utcnow()
        await PromoCode.aio_create(code="WELCOME10", discount_percentage=Decimal("10.00"), created_at=now,
                                   updated_at=now)
        log.info("demo promo code: WELCOME10 (10 %")
    if added:
        log.info("demo shipping methods: %d", added)


SEEDERS["shipping_methods"] = seed_demo
