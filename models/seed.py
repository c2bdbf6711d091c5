"""Demo data. ``seed_if_empty`` runs from `make run`; ``seed`` from
``python server.py seed``. Each domain registers its own seeder here, so the
catalog, customers and orders grow the same command."""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

from models.accounts import User
from models.auth import create_admin

log = logging.getLogger("avantlush.seed")

DEMO_ADMIN = ("admin@avantlush.com", "admin12345")

# name -> coroutine(count, progress: bool); filled by domain modules.
SEEDERS: dict[str, Callable[[int, bool], Awaitable[None]]] = {}


def _load_seeders() -> None:
    import importlib

    for module in ("models.catalog.seed", "models.shipping.seed", "models.orders.seed"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and not module.startswith(exc.name):
                raise


async def seed(products: int = 40, customers: int = 10, orders: int = 0, progress: bool = True) -> None:
    """Add demo data: the demo admin, then each domain's seeder with its count."""
    _load_seeders()
    if not await User.select().where(User.email == DEMO_ADMIN[0]).aio_exists():
        await create_admin(*DEMO_ADMIN)
        log.info("demo admin: %s / %s", *DEMO_ADMIN)
    counts = {"products": products, "customers": customers, "orders": orders,
              "shipping_methods": 1 if products else 0}  # the fixed demo set, with any demo catalog
    for name, seeder in SEEDERS.items():
        if counts.get(name, 0) > 0:
            await seeder(counts[name], progress)


async def seed_if_empty() -> None:
    if await User.select().aio_exists():
        return
    log.info("empty database: adding demo data (SEED_DEMO=0 skips this)")
    await seed(products=40, customers=10, orders=0, progress=False)
