"""Idempotency-Key records (plumbing: any operation may use them; today
POST /orders/ and POST /checkout/payment/ do, through handlers/core/idempotency.py).

The first request with a key claims it (an INSERT that the unique index lets
only one request win), runs, and stores its response (status and body); a
4xx is stored too, as Stripe does, so that a retry gets the same answer. A
5xx or a crash releases the claim so that the client can retry. Another
request with the same user, endpoint and key within 24 h gets the stored
response; one with a different body gets 422; one that arrives while the
first still runs waits for it (up to ``WAIT_SECONDS``) and then replays it —
so two concurrent requests make one order and one charge.
"""
from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from models.core.db import db, fetch_one
from models.core.errors import AppError

TTL_HOURS = 24
WAIT_SECONDS = 30
STALE_SECONDS = 120  # a claim this old without a response belongs to a request that died
MAX_KEY_LENGTH = 255
# Printable ASCII (what a UUID or any token is), as the API document states it.
KEY_PATTERN = r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$"


class IdempotencyMismatch(AppError):
    status = 422
    message = "Idempotency-Key was already used with a different request body."


class IdempotencyInProgress(AppError):
    status = 409
    message = "A request with this Idempotency-Key is still being processed."


class InvalidIdempotencyKey(AppError):
    status = 400
    message = "Invalid Idempotency-Key header."


@dataclass
class Claim:
    record_id: int | None = None           # set when this request runs the action
    replay: tuple[int, bytes] | None = None  # set when it must answer with a stored response


def request_hash(body: Any) -> str:
    """The request's fingerprint: its JSON body with keys sorted."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def claim(user_id: int, endpoint: str, key: str, fingerprint: str) -> Claim:
    key = key.strip()
    if len(key) > MAX_KEY_LENGTH or not re.fullmatch(KEY_PATTERN, key):
        raise InvalidIdempotencyKey(errors={"Idempotency-Key": [
            f"Must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."]})
    # Expired records, and claims left by requests that died, make way.
    await db.aio_execute_sql(
        "DELETE FROM idempotency_record WHERE user_id = %s AND endpoint = %s AND key = %s AND ("
        f"created_at < timezone('utc', now()) - interval '{TTL_HOURS} hours' OR "
        f"(status_code IS NULL AND created_at < timezone('utc', now()) - interval '{STALE_SECONDS} seconds'))",
        [user_id, endpoint, key])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        row = await fetch_one(
            "INSERT INTO idempotency_record (user_id, endpoint, key, request_hash) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (user_id, endpoint, key) DO NOTHING RETURNING id", [user_id, endpoint, key, fingerprint])
        if row is not None:
            return Claim(record_id=row[0])
        existing = await fetch_one(
            "SELECT request_hash, status_code, response FROM idempotency_record "
            "WHERE user_id = %s AND endpoint = %s AND key = %s", [user_id, endpoint, key])
        if existing is None:  # released meanwhile: try to claim it again
            continue
        stored_hash, status, body = existing
        if stored_hash != fingerprint:
            raise IdempotencyMismatch(errors={"Idempotency-Key": [IdempotencyMismatch.message]})
        if status is not None:
            return Claim(replay=(status, bytes(body or b"")))
        if loop.time() > deadline:
            raise IdempotencyInProgress()
        await asyncio.sleep(0.05)


async def complete(record_id: int, status: int, body: bytes) -> None:
    await db.aio_execute_sql("UPDATE idempotency_record SET status_code = %s, response = %s WHERE id = %s",
                             [status, body, record_id])


async def release(record_id: int) -> None:
    await db.aio_execute_sql("DELETE FROM idempotency_record WHERE id = %s AND status_code IS NULL", [record_id])


async def purge_expired() -> int:
    """Delete records older than 24 h (a periodic task); returns how many."""
    async def rowcount(_db, cursor):
        return cursor.rowcount

    return await db.aio_execute_sql(
        f"DELETE FROM idempotency_record WHERE created_at < timezone('utc', now()) - interval '{TTL_HOURS} hours'",
        (), fetch_results=rowcount)
