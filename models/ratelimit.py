"""Fixed-window rate limits kept in Redis, so they hold across processes.

Limits are read from settings as ``N/second|minute|hour|day`` or ``off``. When
Redis is unreachable the limiter fails open with a warning: an outage of the
cache must not take the shop down.
"""
from __future__ import annotations

import logging
import time

import redis.exceptions

import settings
from models.cache import get_redis
from models.errors import RateLimited

log = logging.getLogger("avantlush.ratelimit")

_PERIODS = {"second": 1, "sec": 1, "s": 1, "minute": 60, "min": 60, "m": 60,
            "hour": 3600, "h": 3600, "day": 86400, "d": 86400}


def parse_rate(text: str | None) -> tuple[int, int] | None:
    """``"5/minute"`` → ``(5, 60)``; ``"off"`` or empty → ``None``."""
    if not text or text.strip().lower() in ("off", "none", "0"):
        return None
    count, _, period = text.strip().partition("/")
    return int(count), _PERIODS[period.strip().lower() or "minute"]


def _limits() -> dict[str, tuple[int, int] | None]:
    return {
        "auth": parse_rate(settings.RATE_LIMIT_AUTH),
        "anon": parse_rate(settings.RATE_LIMIT_ANON),
        "user": parse_rate(settings.RATE_LIMIT_USER),
    }


async def hit(scope: str, ident: str) -> None:
    """Count one request of ``ident`` in ``scope``; raise RateLimited past the limit."""
    rate = _limits()[scope]
    if rate is None:
        return
    limit, period = rate
    now = time.time()
    window = int(now // period)
    key = f"rl:{scope}:{ident}:{period}:{window}"
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, period + 1)
        count, _ = await pipe.execute()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        log.warning("rate limiting skipped, Redis unavailable: %s", exc)
        return
    if count > limit:
        raise RateLimited(retry_after=max(1, int((window + 1) * period - now) + 1))
