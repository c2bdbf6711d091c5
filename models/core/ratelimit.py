"""Rate limits kept in Redis, so they hold across processes and machines.

Each limit is a token bucket counted with GCRA (the "generic cell rate
algorithm"): ``N/period`` allows a burst of N, then one more request every
period/N. One atomic Lua script per hit keeps one number per bucket (the
theoretical arrival time), so there is no fixed clock window to game and the
``Retry-After`` it answers is when the next request will really be accepted.

Limits are read from settings as ``N/second|minute|hour|day`` or ``off``. When
Redis is unreachable the limiter fails open with a warning: an outage of the
cache must not take the shop down.
"""
from __future__ import annotations

import functools
import ipaddress
import logging
import math
import time

import redis.exceptions

import settings
from models.core.cache import get_redis
from models.core.errors import RateLimited

log = logging.getLogger("avantlush.ratelimit")

_PERIODS = {"second": 1, "sec": 1, "s": 1, "minute": 60, "min": 60, "m": 60,
            "hour": 3600, "h": 3600, "day": 86400, "d": 86400}

# The credential endpoints: each group has its own bucket at RATE_LIMIT_AUTH.
CREDENTIAL_GROUPS = ("register", "login", "login_email", "google", "resend_verification",
                     "forgot_password", "reset_password", "waitlist")

# Guest checkout's own buckets: starting a guest cart (per client IP) and each
# guest cart's requests (per guest), beside the anonymous bucket of its IP.
GUEST_GROUPS = {"guest_start": "RATE_LIMIT_GUEST_START", "guest": "RATE_LIMIT_GUEST"}

# KEYS[1] bucket; ARGV: now (ms), emission interval (ms), period (ms).
# Returns 0 when allowed, else the milliseconds until a request would be.
_GCRA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if allow_at > now then
  return math.ceil(allow_at - now)
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return 0
"""
_script = None


@functools.lru_cache(maxsize=64)  # a few settings strings, parsed on every request otherwise
def parse_rate(text: str | None) -> tuple[int, int] | None:
    """``"5/minute"`` → ``(5, 60)``; ``"off"`` or empty → ``None``."""
    if not text or text.strip().lower() in ("off", "none", "0"):
        return None
    count, _, period = text.strip().partition("/")
    return int(count), _PERIODS[period.strip().lower() or "minute"]


def _rate(scope: str) -> tuple[int, int] | None:
    if scope in CREDENTIAL_GROUPS:
        return parse_rate(settings.RATE_LIMIT_AUTH)
    if scope in GUEST_GROUPS:
        return parse_rate(getattr(settings, GUEST_GROUPS[scope]))
    return parse_rate(settings.RATE_LIMIT_ANON if scope == "anon" else settings.RATE_LIMIT_USER)


@functools.lru_cache(maxsize=4096)  # every request asks; parsing the address each time is waste
def client_bucket(ip: str) -> str:
    """The bucket of a client address: IPv4 as is, IPv6 per /64 (one subscriber's
    whole network, which a client can hop around in at will)."""
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip[:64] or "unknown"
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{addr}/64", strict=False))
    return str(addr)


async def hit(scope: str, ident: str) -> None:
    """Count one request of ``ident`` in ``scope``; raise RateLimited past the limit."""
    rate = _rate(scope)
    if rate is None:
        return
    global _script
    limit, period = rate
    period_ms = period * 1000
    now_ms = int(time.time() * 1000)
    try:
        client = get_redis()
        if _script is None:
            _script = client.register_script(_GCRA)
        wait_ms = await _script(keys=[f"rl:{scope}:{ident}"], args=[now_ms, math.ceil(period_ms / limit), period_ms],
                                client=client)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        log.warning("rate limiting skipped, Redis unavailable: %s", exc)
        return
    if wait_ms and float(wait_ms) > 0:
        raise RateLimited(retry_after=max(1, math.ceil(float(wait_ms) / 1000)))
