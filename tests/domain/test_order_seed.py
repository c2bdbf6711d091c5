"""The order seed: realistic rows, status counts kept exact, usable by the lists."""
from __future__ import annotations

import pytest

from models.core.db import fetch_all, fetch_one
from models.orders.seed import seed_orders
from tests.support.factories import count, product


@pytest.mark.gen_test(timeout=60)
async def test_seed_orders_makes_consistent_orders(make_user):
    for i in range(5):
        await product(f"Seeded {i}", stock=10, base_price=f"{10 + i}.00")
    await seed_orders(300, progress=False)
    assert await count("orders") == 300
    assert await count("orders o", "NOT EXISTS (SELECT 1 FROM order_item i WHERE i.order_id = o.id)") == 0
    assert await count("payment") == 300 and await count("order_tracking") == 300
    # totals add up, numbers are unique and well formed
    bad = await fetch_one("SELECT count(*) FROM orders o WHERE total <> shipping_cost + (SELECT sum(total_price) "
                          "FROM order_item i WHERE i.order_id = o.id)")
    assert bad[0] == 0
    assert await count("orders", "order_number !~ '^ORD-[0-9]{8}-[0-9]{4,}$'") == 0
    assert (await fetch_one("SELECT count(DISTINCT status) FROM orders"))[0] >= 5
    span = await fetch_one("SELECT max(created_at) - min(created_at) FROM orders")
    assert span[0].days > 300
    # the trigger-kept counts match a real count
    kept = dict(await fetch_all("SELECT status, n FROM order_status_count WHERE n <> 0"))
    real = dict(await fetch_all("SELECT status, count(*) FROM orders GROUP BY status"))
    assert kept == real
    # refunded orders have their refund rows, counted in refund_daily on the refund's day
    assert await count("orders", "refunded_amount > 0") > 0
    assert await count("orders o", "refunded_amount <> (SELECT coalesce(sum(amount), 0) FROM refund r "
                                   "WHERE r.order_id = o.id AND r.status = 'succeeded')") == 0
    assert (await fetch_one("SELECT sum(amount) FROM refund_daily"))[0] == (
        await fetch_one("SELECT sum(refunded_amount) FROM orders"))[0]
    # and the trigger is back on
    await seed_orders(10, progress=False)
    assert (await fetch_one("SELECT sum(n) FROM order_status_count"))[0] == 310
