"""Demo shipping methods (``python server.py seed``, ``make run``)."""
from __future__ import annotations

import logging

from models.core.seed import SEEDERS
from models.shipping.actions import seed_shipping_methods

log = logging.getLogger("avantlush.seed")


async def seed_demo(_count: int, _progress: bool) -> None:
    added = await seed_shipping_methods()
    if added:
        log.info("demo shipping methods: %d", added)


SEEDERS["shipping_methods"] = seed_demo
