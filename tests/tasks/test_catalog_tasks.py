"""Catalog upkeep: the hourly recommendations rebuild (beat entry, and a run
on the real worker)."""
from __future__ import annotations

import asyncio
import time

import pytest

from models.catalog.tables import ProductRecommendation
from tests.support.factories import make_order, product


def test_rebuild_recommendations_runs_hourly_from_beat():
    from celery_app import app

    entries = [e for e in app.conf.beat_schedule.values() if e["task"] == "tasks.catalog.rebuild_recommendations"]
    assert len(entries) == 1 and entries[0]["schedule"] == 3600.0
    import tasks.catalog  # noqa: F401  (registers the task)

    assert "tasks.catalog.rebuild_recommendations" in app.tasks


@pytest.mark.gen_test(timeout=60)
async def test_worker_rebuilds_recommendations_from_orders(celery_worker, make_user):
    from celery_app import app

    user = await make_user()
    desk, chair = await product("Desk"), await product("Chair")
    await make_order(user=user.id, products=[desk, chair])
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, lambda: app.send_task("tasks.catalog.rebuild_recommendations"))
    deadline = time.monotonic() + 30
    while await ProductRecommendation.select().aio_count() < 2:
        assert time.monotonic() < deadline, "the worker did not rebuild the recommendations"
        await asyncio.sleep(0.1)
    pairs = {(r.product_id, r.recommended_id) for r in await ProductRecommendation.select().aio_execute()}
    assert pairs == {(desk, chair), (chair, desk)}
