"""The search index each web process holds (models/catalog/engine.py): the
same answers as the SQL path, one query a page, and never stale after a
committed write, whoever made it."""
from __future__ import annotations

import random
from decimal import Decimal

import psycopg2
import pytest

from models.catalog import queries, search
from models.catalog.admin import search_for_order_form
from models.catalog.engine import FEED_KEEP_VERSIONS, engine, prune_feed
from models.catalog.tables import Product
from models.core.db import fetch_all
from tests.support.factories import category, product, tag, tag_product

QUERIES = ["chair", "chiar", "chairs", "oak chair", "oka chair", "oak", "o", "c", "ch", "velvet chiar", "table",
           "tabel", "lamp", "lmap", "walnut desk", "wlanut", "ergonomic", "ergonmic chiar", "seat", "oak tabel",
           "bench", "garden", "velvet", "pine", "x", "zzzz", "the", "chair lamp"]


@pytest.fixture
def catalog(io_loop):
    """80 products mixing exact, typo'd and description matches, categories (a
    tree), tags, statuses, stock bands, prices and tied popularity."""
    rng = random.Random(5)

    async def build():
        seating = await category("Seating")
        chairs = await category("Garden Chairs", parent=seating)
        lighting = await category("Lighting")
        velvet = await tag("Velvet Touch")
        for _ in range(80):
            name = (f"{rng.choice(['Oak', 'Oka', 'Pine', 'Velvet', 'Walnut', 'Ergonomic'])} "
                    f"{rng.choice(['Chair', 'Chairs', 'Table', 'Lamp', 'Desk', 'Bench'])}")
            pid = await product(name, description=rng.choice(["", "a chair", "velvet seat", "oak table"]),
                                num_ratings=rng.randint(0, 3), base_price=f"{rng.randint(5, 300)}.{rng.randint(0, 99):02d}",
                                stock=rng.choice([0, 3, 50]), category=rng.choice([None, seating, chairs, lighting]),
                                status=rng.choice(["published"] * 4 + ["draft", "archived"]))
            if rng.random() < 0.2:
                await tag_product(pid, velvet)
        return {"seating": seating, "chairs": chairs, "lighting": lighting}

    return io_loop.run_sync(build)


async def pages(f: queries.ProductFilters, size: int) -> list[tuple[int, list[int]]]:
    out, page = [], 1
    while True:
        try:
            total, items = await queries.product_page(f, page, size)
        except queries.NotFound:
            return out
        out.append((total, [i["id"] for i in items]))
        if not items:
            return out
        page += 1


@pytest.mark.gen_test(timeout=120)
async def test_the_index_ranks_every_page_as_sql_does(catalog):
    filters = [{}, {"category_id": catalog["seating"]}, {"category_id": catalog["chairs"]}, {"in_stock": True},
               {"in_stock": False}, {"min_price": Decimal("50"), "max_price": Decimal("150.50")},
               {"staff": True}, {"staff": True, "tab": "draft"}, {"staff": True, "tab": "low_stock"},
               {"staff": True, "tab": "out_of_stock", "category_id": catalog["lighting"]},
               {"category_id": 999999}]
    compared = 0
    for q in QUERIES:
        for extra in filters:
            f = queries.ProductFilters(search=q, **extra)
            for size in (5, 12):
                engine.enabled = True
                indexed = await pages(f, size)
                engine.enabled = False
                in_sql = await pages(f, size)
                engine.enabled = True
                assert indexed == in_sql, (q, extra, size)
                compared += 1
    assert compared == len(QUERIES) * 11 * 2
    for q in QUERIES:
        for staff in (False, True):
            engine.enabled = True
            indexed = await queries.search_page(q, catalog["seating"], 1, 50, staff=staff)
            order_form = await search_for_order_form(q)
            engine.enabled = False
            queries.search_cache.entries.clear()
            assert indexed == await queries.search_page(q, catalog["seating"], 1, 50, staff=staff), q
            assert order_form == await search_for_order_form(q), q
            engine.enabled = True


@pytest.mark.gen_test
async def test_a_current_index_answers_a_search_in_one_query(catalog, count_queries):
    await queries.product_page(queries.ProductFilters(search="chair"), 1, 12)  # loads the index
    for call in (lambda: queries.product_page(queries.ProductFilters(search="ergonmic chiar"), 1, 12),
                 lambda: queries.product_page(queries.ProductFilters(search="oak", category_id=catalog["seating"],
                                                                     in_stock=True), 2, 5),
                 lambda: queries.search_page("velvet chiar", None, 1, 12),
                 lambda: search_for_order_form("wlanut")):
        with count_queries() as q:
            await call()
        assert len(q) == 1, q


@pytest.mark.gen_test
async def test_writes_by_anyone_are_seen_by_the_next_search_without_a_reload(catalog):
    await queries.product_page(queries.ProductFilters(search="chair"), 1, 12)
    loads = engine.loads
    # Another process's writes: a separate connection, committed.
    conn = psycopg2.connect(dbname=_dbname(), **_dsn_params())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(_INSERT.format(name="Teak Lounger", stock=5, ratings=50) + " RETURNING id")
        pid = cur.fetchone()[0]
    total, items = await queries.product_page(queries.ProductFilters(search="loungr"), 1, 12)
    assert (total, [i["id"] for i in items]) == (1, [pid])
    assert [i["id"] for i in (await queries.product_page(queries.ProductFilters(search="teak lou"), 1, 12))[1]] \
        == [pid]  # its new words are prefixes too
    with conn.cursor() as cur:
        cur.execute("UPDATE product SET stock_quantity = 0 WHERE id = %s", (pid,))
    assert (await queries.product_page(queries.ProductFilters(search="lounger", in_stock=True), 1, 12))[0] == 0
    with conn.cursor() as cur:
        cur.execute("UPDATE product SET status = 'draft' WHERE id = %s", (pid,))
    assert (await queries.search_page("lounger", None, 1, 12))[0] == 0
    assert [r["id"] for r in await search_for_order_form("lounger")] == [pid]  # drafts are for staff
    # A new subcategory moves its products into the parent's filter.
    seating = catalog["seating"]
    with conn.cursor() as cur:
        cur.execute("INSERT INTO category (name, slug, description, created_at) "
                    "VALUES ('Loungers', 'loungers', '', now()) RETURNING id")
        loungers = cur.fetchone()[0]
        cur.execute("UPDATE product SET status = 'published', category_id = %s WHERE id = %s", (loungers, pid))
    f = queries.ProductFilters(search="lounger", category_id=seating)
    assert (await queries.product_page(f, 1, 12))[0] == 0
    with conn.cursor() as cur:
        cur.execute("UPDATE category SET parent_id = %s WHERE id = %s", (seating, loungers))
    assert [i["id"] for i in (await queries.product_page(f, 1, 12))[1]] == [pid]
    with conn.cursor() as cur:
        cur.execute("DELETE FROM product WHERE id = %s", (pid,))
    assert (await queries.product_page(queries.ProductFilters(search="lounger"), 1, 12))[0] == 0
    conn.close()
    assert engine.loads == loads  # caught up from the change log each time


# A product written by another process (no peewee defaults).
_INSERT = ("INSERT INTO product (name, slug, sku, description, product_details, base_price, stock_quantity, status, "
           "is_featured, is_physical_product, rating, num_ratings, created_at, updated_at) VALUES ('{name}', "
           "lower(replace('{name}', ' ', '-')), upper(replace('{name}', ' ', '-')), '', '[]', 10, {stock}, "
           "'published', false, true, 0, {ratings}, now(), now())")


def _dsn_params() -> dict:
    from models.core.db import db

    return {k: v for k, v in db.connect_params.items() if k != "pool_params"}


@pytest.mark.gen_test
async def test_an_uncommitted_write_is_not_searched_and_commit_order_is_kept(catalog):
    """Versions are given at commit, in commit order: a transaction that
    logged its change first but commits last is not skipped."""
    await queries.product_page(queries.ProductFilters(search="chair"), 1, 12)
    first, second = (psycopg2.connect(dbname=_dbname(), **_dsn_params()) for _ in range(2))
    # (Nothing in common but the search feed: no word (a new lexicon word is locked
    # until commit), nor category, status and stock band (product_count's row).)
    with first.cursor() as cur:
        cur.execute(_INSERT.format(name="Early Pouf", stock=5, ratings=0))
    with second.cursor() as cur:
        cur.execute(_INSERT.format(name="Late Footstool", stock=50, ratings=0))
    second.commit()

    async def found(q: str) -> list[str]:
        return [i["name"] for i in (await queries.product_page(queries.ProductFilters(search=q), 1, 12))[1]]

    assert await found("footstool") == ["Late Footstool"] and await found("pouf") == []
    first.commit()
    assert await found("pouf") == ["Early Pouf"] and await found("footstool") == ["Late Footstool"]
    first.close()
    second.close()


def _dbname() -> str:
    from models.core.db import db

    return db.database


@pytest.mark.gen_test
async def test_an_emptied_catalog_or_a_pruned_log_reloads_the_index(catalog, monkeypatch):
    await queries.product_page(queries.ProductFilters(search="chair"), 1, 12)
    loads = engine.loads
    await fetch_all("UPDATE search_version SET pruned_to = version + 1 RETURNING 1")
    await product("Pruned Ottoman")
    assert [i["name"] for i in (await queries.product_page(queries.ProductFilters(search="ottoman"), 1, 12))[1]] \
        == ["Pruned Ottoman"]
    assert engine.loads == loads + 1
    from models.core.db import db

    await db.aio_execute_sql("TRUNCATE product, search_version CASCADE")
    assert (await queries.product_page(queries.ProductFilters(search="ottoman"), 1, 12))[0] == 0  # SQL path
    await product("Fresh Ottoman")
    assert [i["name"] for i in (await queries.product_page(queries.ProductFilters(search="ottoman"), 1, 12))[1]] \
        == ["Fresh Ottoman"]
    assert engine.loads == loads + 2
    # The clean-up keeps FEED_KEEP_VERSIONS versions of the log.
    await fetch_all("UPDATE search_version SET version = version + %s RETURNING 1", (FEED_KEEP_VERSIONS + 5,))
    assert await prune_feed() > 0
    assert (await fetch_all("SELECT count(*) FROM search_change"))[0][0] == 0


PG_SPLIT = ["Oak chair", "oak-chair 120cm", "120 x 60", "0012", "the and of", "Chair_2 /lamp", "a b c",
            "ERGONOMIC  chiar\tdesk", "sofa sofa bed", "one two three four five six seven eight", "", "   ",
            "HMP-001", "x1y2z3", "don't", "café", "4.5", "email@example.com", "o'reilly", "co-op/lamp_3",
            "Lamp 7E3X", "32e0c6b2", "1.5-seat", "x/y", "v2.0", "7e3a the", "12e 1e5 e5 0e0 77e3e3 7e3x9 a7e3"]


def awkward_corpus(n: int = 3000) -> list[str]:
    """Names and SKUs as a catalog holds them, with the parser's corner cases:
    numbers in scientific notation inside SKUs, hex ids, versions, sizes,
    paths, hyphens, underscores, stop words, accents, e-mail and URL shapes."""
    rng = random.Random(23)
    pieces = ["Lamp", "Oak", "chair", "the", "and", "a", "X", "x", "E", "e", "7E3X", "32e0c6b2", "1e5", "0e0",
              "12e", "e12", "7e03", "3E-2", "1.5-seat", "x/y", "v2.0", "2.0.1", "HMP-001", "AL-SO-000123",
              "120x60cm", "4-Seater", "co_op", "café", "naïve", "o'reilly", "a@b.com", "http://x.io/a", "-5", "+3",
              "1,000", "50%", "#12", "ünïcödé", "ß", "Æon"]
    alphabet = "ae0123456789xE-_/ "
    corpus = list(PG_SPLIT)
    for _ in range(n):
        if rng.random() < 0.5:
            corpus.append(" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 5))))
        else:
            corpus.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))))
    return corpus


@pytest.mark.gen_test(timeout=60)
async def test_plain_words_split_as_postgresql_does():
    corpus = awkward_corpus()
    texts = [t.replace("\x00", "").strip()[:search.MAX_CHARS] for t in corpus]
    rows = await fetch_all(
        "SELECT x.i, ARRAY(SELECT t.lexeme FROM unnest(to_tsvector('catalog', search_fold(x.q))) t "
        "ORDER BY t.positions[1] LIMIT %s) FROM unnest(%s::text[]) WITH ORDINALITY AS x(q, i) ORDER BY x.i",
        (search.MAX_WORDS, texts))
    postgres = [r[1] for r in rows]
    plain_ones = 0
    for text, words in zip(corpus, postgres):
        plain = search.plain_words(text)
        if plain is not None:
            plain_ones += 1
            assert plain == words, (text, plain, words)
    assert plain_ones > len(corpus) // 2  # most of it takes the path without a query
    for text in PG_SPLIT[:6]:
        assert search.plain_words(text) == await search.pg_words(text), text
    assert search.plain_words("café") is None and search.plain_words("o'reilly") is None
    assert search.plain_words("Lamp 7E3X") == ["lamp", "7e3", "x"]
    assert search.plain_words("32e0c6b2") == ["32e0", "c6b2"]


@pytest.mark.gen_test
@pytest.mark.parametrize("index", [True, False], ids=["index", "sql"])
async def test_a_product_is_found_by_its_own_awkward_name_or_sku(api, index):
    lamp = await product("Lamp 7E3X")
    hashed = await product("Plain Shelf")
    await Product.update(sku="32e0c6b2").where(Product.id == hashed).aio_execute()
    await product("Lamp Base")
    engine.enabled = index
    try:
        for q, pid in (("Lamp 7E3X", lamp), ("7e3x", lamp), ("7E3X lamp", lamp), ("32e0c6b2", hashed),
                       ("32E0C6B2", hashed)):
            for path, key in (("/api/products/search/", "q"), ("/api/products/", "search")):
                body = (await api.get(path, params={key: q})).json()
                assert [r["id"] for r in body["results"]][:1] == [pid], (path, q, body)
    finally:
        engine.enabled = True


@pytest.mark.gen_test
async def test_the_stop_words_are_postgresqls():
    rows = await fetch_all("SELECT w FROM unnest(%s::text[]) w WHERE ts_lexize('catalog_words', w) <> '{}'",
                           [sorted(search.STOP_WORDS)])
    assert rows == []
    assert (await fetch_all("SELECT length(to_tsvector('catalog', %s))", [" ".join(search.STOP_WORDS)]))[0][0] == 0


@pytest.mark.gen_test
async def test_an_unknown_word_that_postgresql_drops_is_dropped(catalog):
    # Not plain text: PostgreSQL splits it; "don't" gives "don" (a stop word) and "t".
    engine.enabled = True
    indexed = await queries.product_page(queries.ProductFilters(search="oak, don't"), 1, 50)
    engine.enabled = False
    assert [i["id"] for i in indexed[1]] == [i["id"] for i in
                                            (await queries.product_page(queries.ProductFilters(search="oak, don't"),
                                                                        1, 50))[1]]
    engine.enabled = True


@pytest.mark.gen_test
async def test_popularity_changes_move_a_product_in_the_ranking():
    a = await product("Alpha Stool", num_ratings=1)
    b = await product("Beta Stool", num_ratings=2)
    assert [i["id"] for i in (await queries.product_page(queries.ProductFilters(search="stool"), 1, 12))[1]] == [b, a]
    await Product.update(num_ratings=5).where(Product.id == a).aio_execute()
    assert [i["id"] for i in (await queries.product_page(queries.ProductFilters(search="stool"), 1, 12))[1]] == [a, b]
