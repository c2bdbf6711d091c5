"""The demo staff account (``python server.py seed``, ``make run``)."""
from __future__ import annotations

import logging

from models.accounts.actions import create_admin
from models.accounts.tables import User
from models.core.seed import HAS_DATA, SEEDERS

log = logging.getLogger("avantlush.seed")

DEMO_ADMIN = ("admin@avantlush.com", "admin12345")


async def seed_admin(_count: int, _progress: bool) -> None:
    if not await User.select().where(User.email == DEMO_ADMIN[0]).aio_exists():
        await create_admin(*DEMO_ADMIN)
        log.info("demo admin: %s / %s", *DEMO_ADMIN)


async def has_users() -> bool:
    return await User.select().aio_exists()


SEEDERS["admin"] = seed_admin
HAS_DATA["users"] = has_users
