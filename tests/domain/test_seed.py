"""The demo seed as a bulk load: committed batches that survive an
interruption and that a rerun continues, a statement timeout of its own (not a
web request's), triggers switched off per batch and their work done once, and
a search index that sees the whole load."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

import settings
from models.core.db import fetch_all, fetch_one
from tests.support.paths import ROOT


class Interrupted(Exception):
    pass


def run_seed(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = dict(os.environ, DATABASE_URL=settings.DATABASE_URL, REDIS_URL=__import__("settings").REDIS_URL, **env)
    return subprocess.run([sys.executable, "server.py", "seed", *args], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=300)


async def scalar(sql: str, params=()) -> int:
    return (await fetch_one(sql, params))[0]


async def assert_catalog_consistent() -> None:
    """What the switched-off triggers stand for is right after the load."""
    # Every product's search row, document and lexicon words, as the triggers keep them for any write.
    assert await scalar(
        "SELECT count(*) FROM product p LEFT JOIN product_search s USING (id) WHERE (p.status, p.category_id, "
        "p.price, p.stock_quantity, p.num_ratings, p.search_vector) IS DISTINCT FROM (s.status, s.category_id, "
        "s.price, s.stock_quantity, s.num_ratings, s.search_vector)") == 0
    assert await scalar(
        "WITH real AS (SELECT w, count(*) AS n FROM (SELECT unnest(search_text_words(name)) FROM product "
        "UNION ALL SELECT unnest(search_text_words(name)) FROM category UNION ALL "
        "SELECT unnest(search_text_words(name)) FROM tag) x(w) GROUP BY w) "
        "SELECT count(*) FROM real FULL JOIN search_word s ON s.word = real.w WHERE s.n IS DISTINCT FROM real.n") == 0
    assert await scalar(
        "SELECT count(*) FROM (SELECT category_id, status, product_stock_band(stock_quantity) AS band, count(*) AS n "
        "FROM product GROUP BY 1, 2, 3) r FULL JOIN product_count c USING (category_id, status, band) "
        "WHERE coalesce(c.n, 0) <> coalesce(r.n, 0)") == 0
    # Ratings and main images agree with the rows they summarise.
    assert await scalar("SELECT count(*) FROM product p WHERE num_ratings <> "
                        "(SELECT count(*) FROM review r WHERE r.product_id = p.id)") == 0
    assert await scalar("SELECT count(*) FROM product p WHERE main_image IS DISTINCT FROM "
                        "(SELECT image_url FROM product_image i WHERE i.product_id = p.id AND i.is_main)") == 0


@pytest.mark.system  # runs `python server.py seed`
def test_seed_runs_with_the_bulk_timeout_not_the_web_requests():
    # A timeout that one of the seed's statements exceeds: as the bulk timeout, the seed stops,
    # in one line, with the batches it finished kept...
    failed = run_seed("--products", "1500", "--customers", "5", BULK_TIMEOUT_SECONDS="0.02")
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("seed: a statement ran past BULK_TIMEOUT_SECONDS (0.02 s)"), failed.stderr
    assert "run the same command again to continue" in last and "Traceback" not in failed.stderr
    # ...as the web's (DB_TIMEOUT_SECONDS), it does not concern the seed: the same command finishes the run.
    done = run_seed("--products", "1500", "--customers", "5", DB_TIMEOUT_SECONDS="0.02")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for phase in ("products", "variations", "images", "reviews", "customers"):
        assert f"{phase}: 100%" in done.stderr, phase


@pytest.mark.gen_test(timeout=120)
async def test_an_interrupted_seed_keeps_its_batches_and_a_rerun_continues(monkeypatch):
    from models.catalog import seed as catalog_seed

    monkeypatch.setattr(catalog_seed, "BATCH", 10)
    real_add_images = catalog_seed._add_images
    calls = []

    async def add_images_then_fail(ctx, products):
        calls.append(len(products))
        if len(calls) == 2:
            raise Interrupted  # as Ctrl-C in the middle of the images
        await real_add_images(ctx, products)

    monkeypatch.setattr(catalog_seed, "_add_images", add_images_then_fail)
    with pytest.raises(Interrupted):
        await catalog_seed.seed_products(35, progress=False)
    # Every product and every variation batch committed; the first images batch too, not the second.
    assert await scalar("SELECT count(*) FROM product") == 35
    assert await scalar("SELECT count(DISTINCT product_id) FROM product_image") == 10
    run = await fetch_one("SELECT target, progress, finished_at FROM seed_run WHERE seeder = 'products'")
    assert run[0] == 35 and run[1]["products"] == 35 and run[1]["variations"] == -1 and run[2] is None

    # The same command again: the run goes on where it stopped (and is not added to).
    monkeypatch.setattr(catalog_seed, "_add_images", real_add_images)
    await catalog_seed.seed_products(35, progress=False)
    assert await scalar("SELECT count(*) FROM product") == 35
    assert await scalar("SELECT count(*) FROM product p WHERE NOT EXISTS "
                        "(SELECT 1 FROM product_image i WHERE i.product_id = p.id)") == 0
    assert await scalar("SELECT count(*) FROM review") > 0
    assert await scalar("SELECT count(*) FROM seed_run WHERE finished_at IS NULL") == 0
    await assert_catalog_consistent()

    # A run that ended is not continued: the next seed adds its own products.
    await catalog_seed.seed_products(5, progress=False)
    assert await scalar("SELECT count(*) FROM product") == 40


@pytest.mark.gen_test(timeout=120)
async def test_a_seed_stopped_within_the_products_keeps_whole_batches(monkeypatch):
    from models.catalog import seed as catalog_seed

    monkeypatch.setattr(catalog_seed, "BATCH", 10)
    real_insert = catalog_seed._insert_products
    calls = []

    async def insert_then_fail(rows):
        calls.append(len(rows))
        await real_insert(rows)
        if len(calls) == 3:
            raise TimeoutError  # the third batch's transaction never commits

    monkeypatch.setattr(catalog_seed, "_insert_products", insert_then_fail)
    with pytest.raises(TimeoutError):
        await catalog_seed.seed_products(45, progress=False)
    assert await scalar("SELECT count(*) FROM product") == 20
    assert await scalar("SELECT count(*) FROM product_search") == 20
    assert (await fetch_one("SELECT progress FROM seed_run"))[0] == {"products": 20}

    monkeypatch.setattr(catalog_seed, "_insert_products", real_insert)
    await catalog_seed.seed_products(45, progress=False)
    assert await scalar("SELECT count(*) FROM product") == 45
    assert await scalar("SELECT count(DISTINCT slug) FROM product") == 45
    await assert_catalog_consistent()


@pytest.mark.gen_test(timeout=120)
async def test_a_running_web_process_searches_the_seeded_catalog(api):
    from models.catalog.engine import engine
    from models.catalog.seed import seed_products
    from tests.support.factories import product

    await product("Plain Stool")
    await engine.ready()  # a web process that has loaded its index before the seed
    loaded = engine.loads
    epoch = await scalar("SELECT epoch FROM search_version")
    await seed_products(60, progress=False)
    # The load wrote no change log row by row (its triggers were off): a new epoch stands for it.
    assert await scalar("SELECT count(*) FROM search_change WHERE product_id IN "
                        "(SELECT id FROM product WHERE name <> 'Plain Stool')") == 0
    assert await scalar("SELECT epoch FROM search_version") > epoch
    found = (await api.get("/api/products/search/", params={"q": "ergonmic chiar"})).json()["results"]
    assert "Ergonomic Office Chair" in [r["name"] for r in found]
    assert engine.loads == loaded + 1  # reloaded once for the whole load
    published = await scalar("SELECT count(*) FROM product WHERE status = 'published'")
    body = (await api.get("/api/products/", params={"search": "a", "page_size": 1})).json()
    everything = (await api.get("/api/products/", params={"page_size": 1})).json()
    assert everything["count"] == published and body["count"] <= published
    # A write after the load is seen through the change log again.
    stool = await fetch_all("SELECT id FROM product WHERE name = 'Plain Stool'")
    await fetch_all("UPDATE product SET name = 'Plain Ergonomic Stool' WHERE id = %s RETURNING 1", (stool[0][0],))
    found = (await api.get("/api/products/search/", params={"q": "stool"})).json()["results"]
    assert [r["name"] for r in found] == ["Plain Ergonomic Stool"]
    assert engine.loads == loaded + 1


@pytest.mark.gen_test(timeout=60)
async def test_seed_customers_adds_them_and_keeps_the_dashboard_rollups(make_user):
    from models.customers.seed import seed_customers

    await seed_customers(12, progress=False)
    assert await scalar("SELECT count(*) FROM customer") == 12
    assert await scalar("SELECT count(DISTINCT email) FROM customer") == 12
    kept = dict(await fetch_all("SELECT status, sum(n)::int FROM customer_daily GROUP BY status"))
    assert kept == {"active": 12}


@pytest.mark.gen_test(timeout=60)
async def test_an_interrupted_order_seed_continues_and_its_rollups_are_rebuilt(monkeypatch):
    from models.orders import seed as order_seed
    from tests.support.factories import product

    for i in range(3):
        await product(f"Seeded {i}", stock=10, base_price=f"{10 + i}.00")
    monkeypatch.setattr(order_seed, "BATCH", 100)
    real_batch, calls = order_seed._batch, []

    async def batch_then_fail(n):
        calls.append(n)
        await real_batch(n)
        if len(calls) == 2:
            raise Interrupted

    monkeypatch.setattr(order_seed, "_batch", batch_then_fail)
    with pytest.raises(Interrupted):
        await order_seed.seed_orders(250, progress=False)
    assert await scalar("SELECT count(*) FROM orders") == 100
    # The rollups were rebuilt for what committed, although the run stopped.
    assert await scalar("SELECT coalesce(sum(n), 0) FROM order_daily") == 100
    monkeypatch.setattr(order_seed, "_batch", real_batch)
    await order_seed.seed_orders(250, progress=False)
    assert await scalar("SELECT count(*) FROM orders") == 250
    assert await scalar("SELECT sum(n) FROM order_daily") == 250
    kept = dict(await fetch_all("SELECT status, n FROM order_status_count WHERE n <> 0"))
    assert kept == dict(await fetch_all("SELECT status, count(*) FROM orders GROUP BY status"))


def test_a_seed_failure_is_told_in_one_line():
    import asyncio

    import peewee

    from models.core.seed import failure_line

    def closed_after(cause: BaseException) -> Exception:
        try:
            try:
                raise cause
            except BaseException:
                raise peewee.InterfaceError("connection already closed")  # noqa: B904 (the implicit context is the point)
        except peewee.InterfaceError as exc:
            return exc

    assert failure_line(closed_after(asyncio.CancelledError())).startswith("seed: interrupted; the finished batches")
    assert failure_line(closed_after(TimeoutError())).startswith("seed: a statement ran past BULK_TIMEOUT_SECONDS")
    line = failure_line(peewee.IntegrityError("duplicate key value\nDETAIL: Key (slug)=(x) already exists."))
    assert line.startswith("seed: IntegrityError: duplicate key value DETAIL: Key (slug)") and "\n" not in line
