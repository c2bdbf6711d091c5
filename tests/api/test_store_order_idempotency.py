"""Idempotency-Key on POST /api/orders/: a retry replays the first answer,
a different body is 422, concurrent twins make one order."""
from __future__ import annotations

import asyncio

import pytest

from models.core.db import db
from tests.support.client import assert_envelope
from tests.support.factories import count, product, stock_of


async def post(api, user, items, key, **extra):
    return await api.post("/api/orders/", json={"items": items, **extra}, user=user, headers={"Idempotency-Key": key})


@pytest.mark.gen_test
async def test_same_key_replays_the_first_response(api, make_user):
    user = await make_user()
    pid = await product("Lamp", stock=10)
    items = [{"product_id": pid, "quantity": 2}]
    first = await post(api, user, items, "key-1")
    assert first.status == 201 and "Idempotent-Replayed" not in first.headers
    again = await post(api, user, items, "key-1")
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await count("orders") == 1 and await stock_of(pid) == 8
    # same key, different body
    resp = await post(api, user, [{"product_id": pid, "quantity": 3}], "key-1")
    assert_envelope(resp, 422)
    # another user's key is their own
    other = await make_user()
    assert (await post(api, other, items, "key-1")).status == 201
    assert await count("orders") == 2


@pytest.mark.gen_test
async def test_a_stored_4xx_is_replayed_too(api, make_user):
    user = await make_user()
    pid = await product("Scarce", stock=1)
    items = [{"product_id": pid, "quantity": 2}]
    first = await post(api, user, items, "k")
    assert_envelope(first, 400)
    again = await post(api, user, items, "k")
    assert again.status == 400 and again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()


@pytest.mark.gen_test
async def test_concurrent_requests_with_one_key_make_one_order(api, make_user):
    user = await make_user()
    pid = await product("Chair", stock=100)
    items = [{"product_id": pid, "quantity": 1}]
    responses = await asyncio.gather(*(post(api, user, items, "twin") for _ in range(10)))
    assert [r.status for r in responses] == [201] * 10, responses
    assert len({r.json()["order_id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
    assert await count("orders") == 1 and await stock_of(pid) == 99


@pytest.mark.gen_test
async def test_keys_expire_after_a_day(api, make_user):
    user = await make_user()
    pid = await product("Desk", stock=10)
    items = [{"product_id": pid, "quantity": 1}]
    assert (await post(api, user, items, "old")).status == 201
    await db.aio_execute_sql("UPDATE idempotency_record SET created_at = created_at - interval '25 hours'")
    again = await post(api, user, items, "old")
    assert again.status == 201 and "Idempotent-Replayed" not in again.headers
    assert await count("orders") == 2


@pytest.mark.gen_test
async def test_blank_or_huge_key_is_400(api, make_user):
    user = await make_user()
    pid = await product("Desk", stock=10)
    assert_envelope(await post(api, user, [{"product_id": pid, "quantity": 1}], " "), 400)
    assert_envelope(await post(api, user, [{"product_id": pid, "quantity": 1}], "x" * 300), 400)
    assert await count("orders") == 0
