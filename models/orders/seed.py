"""Demo orders (``python server.py seed --orders N``): realistic statuses,
dates over the last two years, one to three items of published products at
their prices, a payment and a tracking event each (and a refund row for refunded ones)
— fast enough for a million orders.

Rows are generated inside PostgreSQL (``generate_series`` + ``random()``, a
batch per transaction, a progress bar per batch): nothing crosses the wire
but the batch size. Each batch records its progress in ``seed_run`` in its own
transaction: an interrupted seed keeps its batches and a rerun continues. Order ids come from the table's sequence up front, so
items, payments and events join their order without a round trip. The
status-count and order-version triggers are switched off for the batch
(they would update the same few rows once per row) and the batch's counts
are added, and the version bumped, in one statement each instead. Historical orders take no stock.
"""
from __future__ import annotations

import logging

from models.core.db import db, fetch_one, transaction
from models.core.seed import Run, after_bulk, progress_bar

log = logging.getLogger("avantlush.seed.orders")

BATCH = 20_000
DAYS = 730
MIN_CUSTOMERS = 200

# Cumulative status weights: mostly delivered, as a shop that has been running a while.
_STATUS = """CASE
    WHEN r < 0.45 THEN 'DELIVERED' WHEN r < 0.55 THEN 'SHIPPED' WHEN r < 0.67 THEN 'PROCESSING'
    WHEN r < 0.77 THEN 'PENDING' WHEN r < 0.92 THEN 'CANCELLED' WHEN r < 0.97 THEN 'RETURNED'
    ELSE 'DAMAGED' END"""
_PAYMENT_STATUS = """CASE status
    WHEN 'PENDING' THEN 'PENDING' WHEN 'RETURNED' THEN 'REFUNDED'
    WHEN 'CANCELLED' THEN (CASE WHEN r2 < 0.5 THEN 'FAILED' ELSE 'REFUNDED' END)
    ELSE 'PAID' END"""


async def _ensure_customers() -> int:
    """At least MIN_CUSTOMERS customers to order (the demo shoppers, then
    customers without accounts, as the admin modal creates them)."""
    from models.catalog.seed import _ensure_shoppers

    await _ensure_shoppers()
    have = (await fetch_one("SELECT count(*) FROM customer"))[0]
    if have < MIN_CUSTOMERS:
        await db.aio_execute_sql(
            "INSERT INTO customer (name, email, phone, country_code, local_phone_number, status, created_at, "
            "updated_at) SELECT 'Seed Customer ' || g, 'seed.customer.' || g || '.' || floor(random() * 1e9)::bigint "
            "|| '@example.com', '', '', '', 'active', timezone('utc', now()), timezone('utc', now()) "
            "FROM generate_series(1, %s) g", [MIN_CUSTOMERS - have])
    return (await fetch_one("SELECT count(*) FROM customer"))[0]


async def seed_orders(count: int, progress: bool) -> None:
    """Add ``count`` orders over the last two years (or finish the unfinished run)."""
    await _ensure_customers()
    if (await fetch_one("SELECT count(*) FROM product WHERE status = 'published'"))[0] == 0:
        log.warning("no published products: seed products first (--products N); no orders added")
        return
    run = await Run.open("orders", count)
    done = run.done("orders")
    bar = progress_bar(run.target, "orders", "order", progress, initial=done)
    try:
        while done < run.target:
            n = min(BATCH, run.target - done)
            async with transaction():
                await _batch(n)
                done += n
                await run.record("orders", done)
            bar.update(n)
        bar.close()
        await run.finish()
    finally:
        # The dashboard's daily rollups and the customers' orders_count/balance were
        # left to one rebuild (row triggers over a million orders take far longer).
        await after_bulk("SELECT dashboard_rollups_rebuild()")
    # VACUUM too: it sets the visibility map, so that counts over a date range are index-only scans.
    await db.aio_execute_sql("VACUUM (ANALYZE) orders")
    await db.aio_execute_sql("ANALYZE order_item, payment, order_tracking, order_status_count")
    log.info("seeded %d orders", run.target)


async def _batch(n: int) -> None:
    run = db.aio_execute_sql
    await run("CREATE TEMP TABLE seed_p ON COMMIT DROP AS SELECT row_number() OVER (ORDER BY id) AS k, id, name, "
              "sku, price FROM product WHERE status = 'published'")
    await run("CREATE TEMP TABLE seed_c ON COMMIT DROP AS SELECT row_number() OVER (ORDER BY id) AS k, id, user_id, "
              "name, email FROM customer")
    np_ = (await fetch_one("SELECT count(*) FROM seed_p"))[0]
    nc = (await fetch_one("SELECT count(*) FROM seed_c"))[0]
    # Orders: who, when, status, how many lines.
    await run(
        "CREATE TEMP TABLE seed_o ON COMMIT DROP AS SELECT nextval(pg_get_serial_sequence('orders', 'id')) AS id, "
        "c.id AS customer_id, c.user_id, c.name, c.email, s.created_at, s.status, s.r2, s.lines FROM ("
        f" SELECT 1 + floor(random() * {nc})::int AS ck, "
        f"  date_trunc('second', timezone('utc', now()) - random() * interval '{DAYS} days') AS created_at, "
        f"  {_STATUS} AS status, random() AS r2, 1 + floor(random() * random() * 3)::int AS lines "
        f" FROM (SELECT random() AS r FROM generate_series(1, %s)) g) s JOIN seed_c c ON c.k = s.ck", [n])
    await run(
        "CREATE TEMP TABLE seed_i ON COMMIT DROP AS SELECT o.id AS order_id, p.id AS product_id, p.name, p.sku, "
        "p.price, x.qty FROM seed_o o CROSS JOIN LATERAL ("
        f" SELECT 1 + floor(random() * {np_})::int + 0 * o.id AS pk, 1 + floor(random() * random() * 3)::int AS qty "
        " FROM generate_series(1, o.lines)) x JOIN seed_p p ON p.k = x.pk")
    for table in ("orders", "order_item", "payment"):
        await run(f"ALTER TABLE {table} DISABLE TRIGGER order_version_{table}")
    await run("ALTER TABLE orders DISABLE TRIGGER order_status_count_change")
    await run("ALTER TABLE orders DISABLE TRIGGER order_rollups_change")  # rebuilt once after the batches
    paid = _PAYMENT_STATUS.replace('status', 'o.status').replace('r2', 'o.r2')
    await run(
        "INSERT INTO orders (id, order_number, user_id, customer_id, customer_name, customer_email, status, "
        "payment_status, payment_type, order_type, payment_method, subtotal, discount, shipping_cost, tax, total, "
        "shipping_address, shipping_city, shipping_country, estimated_delivery_date, note, stock_held, created_at, "
        "updated_at, refunded_amount) "
        f"SELECT o.id, next_order_number(o.created_at), o.user_id, o.customer_id, o.name, o.email, o.status, "
        f" {paid}, "
        " (ARRAY['CREDIT', 'CREDIT', 'CREDIT', 'DEBIT', 'TRANSFER', 'CASH'])[1 + floor(random() * 6)::int], "
        " (ARRAY['STANDARD', 'STANDARD', 'STANDARD', 'EXPRESS', 'PICKUP'])[1 + floor(random() * 5)::int], "
        " 'stripe', t.subtotal, 0, 4.99, 0, t.subtotal + 4.99, "
        " (10 + floor(random() * 990)::int) || ' Market Street', "
        " (ARRAY['Lagos', 'Abuja', 'London', 'Paris', 'Berlin', 'Toronto', 'New York'])[1 + floor(random() * 7)::int], "
        " 'Nigeria', (o.created_at + interval '5 days')::date, '', FALSE, o.created_at, o.created_at, "
        f" CASE WHEN {paid} = 'REFUNDED' THEN t.subtotal + 4.99 ELSE 0 END "  # refunded in full
        "FROM seed_o o JOIN (SELECT order_id, sum(price * qty) AS subtotal FROM seed_i GROUP BY order_id) t "
        " ON t.order_id = o.id ORDER BY o.created_at")
    await run("ALTER TABLE orders ENABLE TRIGGER order_status_count_change")
    await run("ALTER TABLE orders ENABLE TRIGGER order_rollups_change")
    await run(
        "INSERT INTO order_item (order_id, product_id, product_name, product_sku, quantity, unit_price, total_price) "
        "SELECT order_id, product_id, name, sku, qty, price, price * qty FROM seed_i")
    await run(
        "INSERT INTO payment (order_id, user_id, provider, method, amount, status, transaction_id, created_at, "
        "updated_at) SELECT o.id, o.user_id, 'stripe', 'card', o.total, o.payment_status, "
        "CASE WHEN o.payment_status <> 'PENDING' THEN 'pi_seed_' || o.id END, o.created_at, o.created_at "
        "FROM orders o JOIN seed_o s ON s.id = o.id")
    # Refunded orders' refunds, a few days after the order (revenue goes down on the
    # refund's day: refund_daily, rebuilt once after the batches like the other rollups).
    await run("ALTER TABLE refund DISABLE TRIGGER refund_daily_change")
    await run(
        "INSERT INTO refund (order_id, payment_id, amount, status, provider, provider_reference, reason, created_at, "
        "updated_at) SELECT o.id, p.id, o.refunded_amount, 'succeeded', 'stripe', 're_seed_' || o.id, 'Seed', "
        "least(o.created_at + interval '3 days', timezone('utc', now())), "
        "least(o.created_at + interval '3 days', timezone('utc', now())) "
        "FROM orders o JOIN seed_o s ON s.id = o.id JOIN payment p ON p.order_id = o.id WHERE o.refunded_amount > 0")
    await run("ALTER TABLE refund ENABLE TRIGGER refund_daily_change")
    await run(
        "INSERT INTO order_tracking (order_id, status, location, description, timestamp) "
        "SELECT id, status, '', 'Order ' || lower(status), created_at FROM seed_o")
    await run(
        "SELECT order_status_count_apply(o.status, count(*), sum(o.total)) FROM orders o JOIN seed_o s "
        "ON s.id = o.id GROUP BY o.status ORDER BY o.status")
    for table in ("orders", "order_item", "payment"):
        await run(f"ALTER TABLE {table} ENABLE TRIGGER order_version_{table}")
    await run("SELECT order_version_bump_now()")


def _register() -> None:
    from models.core.seed import SEEDERS

    SEEDERS["orders"] = seed_orders


_register()
