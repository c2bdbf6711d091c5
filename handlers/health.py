"""Liveness of the API and its backing services."""
from __future__ import annotations

import asyncio

from handlers.core.base import BaseHandler
from handlers.core.fields import Out
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.core.cache import get_redis
from models.core.db import db


class HealthOut(Out):
    status: str
    database: str
    redis: str


async def _check(coro_fn) -> str:
    try:
        await asyncio.wait_for(coro_fn(), timeout=3)
        return "ok"
    except Exception as exc:  # any failure means "not ok"; the text says which
        return f"error: {type(exc).__name__}"


class HealthHandler(BaseHandler):
    async def prepare(self) -> None:
        # No rate limit or auth: load balancers poll this.
        self._current_user = None

    @api(response=HealthOut)
    async def get(self):
        """200 when PostgreSQL and Redis answer, 503 naming the failing part otherwise."""
        database = await _check(lambda: db.aio_execute_sql("SELECT 1"))
        redis = await _check(lambda: get_redis().ping())
        ok = database == "ok" and redis == "ok"
        body = {"status": "ok" if ok else "error", "database": database, "redis": redis}
        if not ok:
            failing = [name for name, value in (("database", database), ("redis", redis)) if value != "ok"]
            body.update(success=False, message="Unavailable: " + ", ".join(failing), errors={})
        self.reply(body, 200 if ok else 503)


routes = [Route("/api/health/", HealthHandler)]
