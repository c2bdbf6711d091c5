"""One home per rule: each order rule that SQL needs too has a Python home
and an SQL twin named after it, and they agree. And the clean-up purges
expired Idempotency-Key records."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from models.catalog.tables import line_unit_price
from models.core.db import fetch_all, fetch_one, utcnow
from models.dashboard.metrics import order_revenue, order_sales_value
from models.orders.tables import PAID_PAYMENT_STATUSES, PAYMENT_STATUSES, STATUSES


async def check_values(table: str, constraint: str) -> set[str]:
    row = await fetch_one("SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c "
                          "WHERE c.conrelid = %s::regclass AND c.conname = %s", [table, constraint])
    return set(re.findall(r"'([A-Z_]+)'", row[0]))


@pytest.mark.gen_test
async def test_status_checks_are_the_python_lists():
    assert await check_values("orders", "orders_status_valid") == set(STATUSES)
    assert await check_values("order_tracking", "order_tracking_status_valid") == set(STATUSES)
    assert await check_values("orders", "orders_payment_status_valid") == set(PAYMENT_STATUSES)
    width = (await fetch_one("SELECT character_maximum_length FROM information_schema.columns "
                             "WHERE table_name = 'orders' AND column_name = 'payment_status'"))[0]
    assert width >= max(map(len, PAYMENT_STATUSES))


@pytest.mark.gen_test
async def test_revenue_is_the_same_rule_in_python_and_sql():
    cases = [(ps, Decimal(total), Decimal(refunded)) for ps in PAYMENT_STATUSES
             for total, refunded in (("100.00", "0.00"), ("100.00", "40.00"), ("9999999999.99", "9999999999.99"))]
    for ps, total, refunded in cases:
        sql, paid, sales = await fetch_one("SELECT order_revenue(%s, %s, %s), order_is_paid(%s), "
                                           "order_sales_value(%s, %s)", [ps, total, refunded, ps, ps, total])
        assert Decimal(sql) == order_revenue(ps, total, refunded), (ps, total, refunded)
        assert Decimal(sales) == order_sales_value(ps, total), (ps, total)
        assert paid == (ps in PAID_PAYMENT_STATUSES)
    assert order_revenue("PENDING", Decimal("9999999999.99"), Decimal(0)) == 0
    assert order_revenue("REFUNDED", Decimal("100.00"), Decimal(0)) == 0  # a refund recorded without its amount


@pytest.mark.gen_test
async def test_line_price_is_the_same_rule_in_python_and_sql():
    cases = [("75.00", "25.00"), ("75.00", None), ("10.00", "-25.00"), ("0.00", "0.00"), ("9999999999.99", "0")]
    for price, adjustment in cases:
        (sql,) = await fetch_one("SELECT line_unit_price(%s::numeric, %s::numeric)", [price, adjustment])
        assert Decimal(sql) == line_unit_price(price, adjustment), (price, adjustment)


@pytest.mark.gen_test
async def test_cleanup_purges_expired_idempotency_records(make_user):
    from models.core import cleanup

    user = await make_user()
    old = utcnow() - dt.timedelta(hours=25)
    for key, created in (("old", old), ("new", utcnow())):
        await fetch_all("INSERT INTO idempotency_record (user_id, endpoint, key, request_hash, created_at) "
                        "VALUES (%s, 'orders.create', %s, 'h', %s) RETURNING id", [user.id, key, created])
    done = await cleanup.run()
    assert done["idempotency"] == 1
    assert [r[0] for r in await fetch_all("SELECT key FROM idempotency_record")] == ["new"]
