"""Run a domain coroutine from a (synchronous) Celery task.

The database pool is bound to an event loop, so each call connects, runs and
closes inside its own ``asyncio.run``.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import settings
from models.db import db, init_db

_initialised = False


def run_async(fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    global _initialised
    if not _initialised:
        database_url, _ = settings.resolve_services()
        init_db(database_url, pool_size=2, timeout=settings.DB_TIMEOUT_SECONDS)
        _initialised = True

    async def main() -> Any:
        await db.aio_connect()
        try:
            return await fn(*args, **kwargs)
        finally:
            await db.aio_close()

    return asyncio.run(main())
