"""Demo data. ``seed_if_empty`` runs from `make run`; ``seed`` from
``python server.py seed``. Each domain registers its own seeder here (the
modules named in ``models.core.domains``), so accounts, the catalog, shipping,
the cart and orders grow the same command, in the order of that list."""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

from models.core import domains

log = logging.getLogger("avantlush.seed")

# name -> coroutine(count, progress: bool); filled by domain modules.
SEEDERS: dict[str, Callable[[int, bool], Awaitable[None]]] = {}
# name -> coroutine telling whether that domain already holds data; the
# database counts as empty when none does.
HAS_DATA: dict[str, Callable[[], Awaitable[bool]]] = {}


async def seed(products: int = 40, customers: int = 10, orders: int = 0, progress: bool = True) -> None:
    """Add demo data: each domain's seeder with its count (the fixed demo sets
    — the admin, shipping methods, a promo code — count one each)."""
    domains.load()
    fixed = 1 if products else 0  # the fixed demo sets that come with any demo catalog
    counts = {"admin": 1, "products": products, "customers": customers, "orders": orders,
              "shipping_methods": fixed, "promo_codes": fixed}
    for name, seeder in SEEDERS.items():
        if counts.get(name, 0) > 0:
            await seeder(counts[name], progress)


async def seed_if_empty() -> None:
    domains.load()
    for has_data in HAS_DATA.values():
        if await has_data():
            return
    log.info("empty database: adding demo data (SEED_DEMO=0 skips this)")
    await seed(products=40, customers=10, orders=0, progress=False)
