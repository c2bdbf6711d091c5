"""The Redis client of this process (asyncio), one per event loop."""
from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

import settings

_clients: dict[int, aioredis.Redis] = {}


def get_redis() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None:
        _clients.clear()  # a new loop (tests make one per test): old clients are dead
        client = aioredis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
            health_check_interval=30,
            decode_responses=True,
        )
        _clients[id(loop)] = client
    return client
