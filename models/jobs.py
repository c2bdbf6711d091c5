"""Enqueue Celery work from async code: only after the current transaction
commits, and without blocking the event loop on the broker."""
from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from models.db import on_commit

log = logging.getLogger("avantlush.jobs")


async def send_now(name: str, *args: Any, **options: Any) -> None:
    from celery_app import app

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, functools.partial(app.send_task, name, args=list(args), **options))


async def enqueue(name: str, *args: Any, **options: Any) -> None:
    """Queue task ``name`` with ``args`` once the surrounding transaction commits."""

    async def hook() -> None:
        await send_now(name, *args, **options)

    await on_commit(hook)
