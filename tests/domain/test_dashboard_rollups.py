"""The rollups kept by triggers equal a from-scratch computation after creates,
status changes, cancellations, refunds, deletions and re-assignments; and the
metrics read from them equal the same figures computed over the orders."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from models.accounts.tables import Customer
from models.core.db import fetch_all, utcnow
from models.dashboard import metrics
from models.orders.tables import Order
from tests.support.factories import make_order


async def snapshot() -> tuple:
    orders = await fetch_all("SELECT day, status, n, total_value, sales, sale_value FROM order_daily "
                             "WHERE n <> 0 OR total_value <> 0 OR sales <> 0 OR sale_value <> 0 ORDER BY 1, 2")
    customers = await fetch_all("SELECT day, status, n FROM customer_daily WHERE n <> 0 ORDER BY 1, 2")
    figures = await fetch_all("SELECT id, orders_count, balance FROM customer ORDER BY id")
    refunds = await fetch_all("SELECT day, n, amount FROM refund_daily WHERE n <> 0 OR amount <> 0 ORDER BY 1")
    return orders, customers, figures, refunds


async def scratch_figures(start: dt.date, end: dt.date) -> tuple[int, Decimal, dict[str, int]]:
    """Orders of the period, and revenue: paid orders' totals less the refunds made in the period."""
    rows = await fetch_all(
        "SELECT status, count(*), coalesce(sum(order_sales_value(payment_status, total)), 0) "
        "FROM orders WHERE created_at >= %s AND created_at < %s::date + 1 GROUP BY 1", [start, end])
    refunded = (await fetch_all("SELECT coalesce(sum(amount), 0) FROM refund WHERE status = 'succeeded' "
                                "AND created_at >= %s AND created_at < %s::date + 1", [start, end]))[0][0]
    return (sum(r[1] for r in rows), sum((r[2] for r in rows), Decimal(0)) - refunded,
            {r[0]: r[1] for r in rows})


async def add_refund(order_id: int, amount: str, created_at: dt.datetime, status: str = "succeeded") -> int:
    return (await fetch_all("INSERT INTO refund (order_id, amount, status, provider, created_at) "
                            "VALUES (%s, %s, %s, 'test', %s) RETURNING id",
                            [order_id, Decimal(amount), status, created_at]))[0][0]


@pytest.mark.gen_test
async def test_rollups_equal_a_rebuild_and_metrics_equal_a_scratch_computation(make_user):
    now = utcnow()
    users = [await make_user(email=f"u{i}@example.com") for i in range(3)]
    cs = [await Customer.aio_get(Customer.user == u.id) for u in users]
    await Customer.update(created_at=now - dt.timedelta(days=40)).where(Customer.id == cs[0].id).aio_execute()
    orders = []
    for i in range(12):
        orders.append(await make_order(cs[i % 3], total=f"{10 + i}.25", created_at=now - dt.timedelta(days=i * 3)))
    orders.append(await make_order(None, total="99.99"))  # a guest, today
    # Status changes, a cancellation, refunds, a failed payment, a deletion, a re-assignment.
    await Order.update(status="PROCESSING").where(Order.id == orders[0].id).aio_execute()
    await Order.update(status="SHIPPED").where(Order.id == orders[0].id).aio_execute()
    await Order.update(status="DELIVERED", payment_status="PAID").where(Order.id == orders[1].id).aio_execute()
    await Order.update(status="CANCELLED").where(Order.id == orders[2].id).aio_execute()
    await Order.update(payment_status="PAID").where(Order.id == orders[3].id).aio_execute()
    await Order.update(payment_status="REFUNDED", status="RETURNED", refunded_amount=orders[3].total).where(
        Order.id == orders[3].id).aio_execute()
    # A partial refund, and paid orders on past days.
    await Order.update(payment_status="PARTIALLY_REFUNDED", refunded_amount=Decimal("5.00")).where(
        Order.id == orders[1].id).aio_execute()
    for o in orders[9:12]:
        await Order.update(payment_status="PAID").where(Order.id == o.id).aio_execute()
    await Order.update(payment_status="FAILED").where(Order.id == orders[4].id).aio_execute()
    await Order.update(total=Decimal("500.00")).where(Order.id == orders[5].id).aio_execute()
    await Order.delete().where(Order.id == orders[6].id).aio_execute()
    await Order.update(customer=cs[1].id).where(Order.id == orders[7].id).aio_execute()
    await Customer.update(status="blocked").where(Customer.id == cs[2].id).aio_execute()
    from models.core.db import transaction

    async with transaction():  # several changes of one order in one transaction
        await Order.update(status="PROCESSING").where(Order.id == orders[8].id).aio_execute()
        await Order.update(status="CANCELLED").where(Order.id == orders[8].id).aio_execute()

    # Refunds count on their own day: today's refund of an order of 3 days ago, one of
    # 20 days ago for an order of 27 days ago; pending and failed ones do not count;
    # a refund that failed after all, and one deleted.
    await add_refund(orders[1].id, "5.00", now)
    await add_refund(orders[9].id, "3.50", now - dt.timedelta(days=20))
    await add_refund(orders[10].id, "1.00", now - dt.timedelta(days=2), status="pending")
    await add_refund(orders[10].id, "2.00", now - dt.timedelta(days=2), status="failed")
    flipped = await add_refund(orders[11].id, "4.00", now - dt.timedelta(days=1))
    await fetch_all("UPDATE refund SET status = 'failed' WHERE id = %s RETURNING id", [flipped])
    gone = await add_refund(orders[11].id, "6.00", now - dt.timedelta(days=1))
    await fetch_all("DELETE FROM refund WHERE id = %s RETURNING id", [gone])

    kept = await snapshot()
    await metrics.rebuild_rollups()
    assert await snapshot() == kept
    assert kept[0] and kept[3]  # there is something to compare

    # The metrics (rollups for past days + today live) equal the figures over the orders.
    for period in metrics.PERIOD_DAYS:
        start, end = metrics.window(period)
        f = await metrics.order_figures(start, end)
        n, revenue, by_status = await scratch_figures(start, end)
        assert (f["orders"], f["revenue"]) == (n, revenue), period
        assert {s: v["count"] for s, v in f["by_status"].items() if v["count"]} == by_status
        cur, prev = await metrics.order_figures(start, end, with_previous=True)
        assert cur == f
        pn, prevenue, _ = await scratch_figures(*metrics.previous(start, end))
        assert (prev["orders"], prev["revenue"]) == (pn, prevenue), period
        # overview_metrics reads all of it in one statement: the same figures.
        assert await metrics._overview_figures(start, end) == (
            cur, prev, await metrics.customer_figures(start, end), await metrics.cart_figures(start, end))
    # Per-customer figures equal their orders.
    for c in cs:
        row = (await fetch_all("SELECT count(*), coalesce(sum(order_revenue(payment_status, total, refunded_amount)), "
                               "0) FROM orders WHERE customer_id = %s", [c.id]))[0]
        got = await Customer.select(Customer.id).where(Customer.id == c.id).aio_execute()
        figs = (await fetch_all("SELECT orders_count, balance FROM customer WHERE id = %s", [c.id]))[0]
        assert got and tuple(figs) == tuple(row)


@pytest.mark.gen_test
async def test_rebuild_repairs_rollups_that_drifted(make_user):
    user = await make_user()
    c = await Customer.aio_get(Customer.user == user.id)
    await make_order(c, total="10.00", created_at=utcnow() - dt.timedelta(days=2))
    good = await snapshot()
    await fetch_all("UPDATE order_daily SET n = n + 5 RETURNING 1")
    await fetch_all("UPDATE customer SET orders_count = 0, balance = 0 RETURNING 1")
    assert await snapshot() != good
    await metrics.rebuild_rollups()
    assert await snapshot() == good


def test_growth_rule():
    assert metrics.growth(115, 100) == 15.0
    assert metrics.growth(95, 100) == -5.0
    assert metrics.growth(3, 0) == 100.0 and metrics.growth(0, 0) == 0.0
